"""Batches of source/target id pairs, bucketed by source length with the classification sampler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from attnbench.data.seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass
class PairBatch:
    """One batch. ``source``/``source_mask``: [B, S]; ``source_lengths``: [B]; ``target_in``: [B, T]
    (BOS, y_1, ..., y_n, padding); ``target_out``: [B, T] (y_1, ..., y_n, EOS, padding);
    ``lengths``: [B] the length-axis value of each pair (for metrics by length); ``index``: [B]
    positions in the split."""

    source: Tensor
    source_lengths: Tensor
    source_mask: Tensor
    target_in: Tensor
    target_out: Tensor
    lengths: Tensor
    index: Tensor

    def __len__(self) -> int:
        return self.source.shape[0]


class EncodedPairs(Dataset):
    """Source and target id sequences (targets without BOS/EOS) and each pair's length-axis value;
    item ``i`` is ``(source_i, target_i, length_i, i)``. ``lengths`` (what the sampler buckets by)
    are the source token counts."""

    def __init__(self, sources: Sequence[Tensor], targets: Sequence[Tensor], axis: Sequence[int]) -> None:
        self.sources = [torch.as_tensor(s, dtype=torch.long) for s in sources]
        self.targets = [torch.as_tensor(t, dtype=torch.long) for t in targets]
        self.axis = [int(n) for n in axis]
        self.lengths = [len(s) for s in self.sources]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, int, int]:
        return self.sources[i], self.targets[i], self.axis[i], i


def _pad(seqs: Sequence[Tensor]) -> Tensor:
    return torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=PAD_ID)


def collate_pairs(items: list[tuple[Tensor, Tensor, int, int]]) -> PairBatch:
    """Items of :class:`EncodedPairs` → one :class:`PairBatch` (sources and targets padded apart)."""
    sources, targets, axis, index = zip(*items, strict=True)
    source_lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    source = _pad(sources)
    bos, eos = torch.tensor([BOS_ID]), torch.tensor([EOS_ID])
    return PairBatch(
        source=source,
        source_lengths=source_lengths,
        source_mask=torch.arange(source.shape[1])[None, :] < source_lengths[:, None],
        target_in=_pad([torch.cat([bos, t]) for t in targets]),
        target_out=_pad([torch.cat([t, eos]) for t in targets]),
        lengths=torch.tensor(axis, dtype=torch.long),
        index=torch.tensor(index, dtype=torch.long),
    )
