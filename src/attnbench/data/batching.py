"""Batches of padded token ids, and a length-bucketed batch sampler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from attnbench.data.tokenize import PAD_ID


@dataclass
class TextBatch:
    """One batch. ``ids``/``mask``: [B, T] (T = longest in batch); ``lengths``, ``labels``, ``index``: [B].

    Text-pair data also fills ``pair_ids``/``pair_mask`` [B, T2] and ``pair_lengths`` [B] (the second
    text: hypothesis, value, document); they stay None for single-text data.
    """

    ids: Tensor
    lengths: Tensor
    mask: Tensor
    labels: Tensor
    index: Tensor
    pair_ids: Tensor | None = None
    pair_lengths: Tensor | None = None
    pair_mask: Tensor | None = None

    @property
    def is_pair(self) -> bool:
        return self.pair_ids is not None

    def pair(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(pair_ids, pair_lengths, pair_mask)`` of text-pair data; ValueError for single texts."""
        if self.pair_ids is None or self.pair_lengths is None or self.pair_mask is None:
            raise ValueError("this batch holds single texts, not text pairs")
        return self.pair_ids, self.pair_lengths, self.pair_mask

    def __len__(self) -> int:
        return self.ids.shape[0]


class EncodedTexts(Dataset):
    """Token-id sequences with their labels; item ``i`` is ``(ids_i, label_i, i)``, or for text pairs
    ``(ids_i, label_i, i, pair_ids_i)``. ``lengths`` (what batches are bucketed by) is the longer of
    the two texts' lengths for pairs."""

    def __init__(
        self,
        ids: Sequence[Sequence[int] | Tensor],
        labels: Sequence[int],
        pair_ids: Sequence[Sequence[int] | Tensor] | None = None,
    ) -> None:
        self.ids = [torch.as_tensor(x, dtype=torch.long) for x in ids]
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.pair_ids = None if pair_ids is None else [torch.as_tensor(x, dtype=torch.long) for x in pair_ids]
        self.text_lengths = [len(x) for x in self.ids]
        self.pair_lengths = None if self.pair_ids is None else [len(x) for x in self.pair_ids]
        self.lengths = self.text_lengths
        if self.pair_lengths is not None:
            self.lengths = [max(a, b) for a, b in zip(self.text_lengths, self.pair_lengths, strict=True)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple:
        if self.pair_ids is not None:
            return self.ids[i], int(self.labels[i]), i, self.pair_ids[i]
        return self.ids[i], int(self.labels[i]), i


def _pad(seqs: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Padded ids [B, T], lengths [B] and mask [B, T] (T = the longest sequence)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    ids = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=PAD_ID)
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    return ids, lengths, mask


def padding_ratio(
    batches: Sequence[Sequence[int]], lengths: Sequence[int], pair_lengths: Sequence[int] | None = None
) -> float:
    """Share of the padded batch tensors that is padding (both texts of a pair, each padded on its own)."""
    real = padded = 0
    for side in (lengths, pair_lengths):
        if side is None:
            continue
        for b in batches:
            real += sum(side[i] for i in b)
            padded += max(side[i] for i in b) * len(b)
    return 1 - real / padded if padded else 0.0


def collate(items: list[tuple]) -> TextBatch:
    """Items of :class:`EncodedTexts` → one :class:`TextBatch`; the second text of a pair is padded on
    its own (its own T2), so a short query is not padded to a long document's length."""
    columns = list(zip(*items, strict=True))
    ids, lengths, mask = _pad(columns[0])
    batch = TextBatch(ids, lengths, mask, torch.tensor(columns[1]), torch.tensor(columns[2]))
    if len(columns) == 4:
        batch.pair_ids, batch.pair_lengths, batch.pair_mask = _pad(columns[3])
    return batch


class BucketBySequenceLength(Sampler[list[int]]):
    """Batches of similar length, so little compute goes to padding.

    Each epoch: shuffle all indices (seeded by ``seed + epoch``), cut them into pools of
    ``pool_batches * batch_size``, sort each pool by length, cut pools into batches and shuffle the
    batch order. Every example appears exactly once per epoch. With ``shuffle=False`` batches are
    taken from the examples sorted by length (deterministic; used for evaluation).

    Under data parallelism each of ``num_replicas`` ranks takes every ``num_replicas``-th batch. For
    training, the batch list is first extended by wrapping around to a multiple of ``num_replicas``,
    so every rank runs the same number of steps (uneven counts deadlock DDP's gradient all-reduce);
    evaluation batches are never duplicated, and are made smaller when there would be fewer of them
    than ranks: a rank without a batch skips the evaluation epoch and its metric sync, which hangs
    the others.
    """

    DEFAULT_POOL_BATCHES = 50

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = DEFAULT_POOL_BATCHES,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = torch.as_tensor(list(lengths))
        n = len(self.lengths)
        if not shuffle and num_replicas > 1:
            if n < num_replicas:
                raise ValueError(f"{n} evaluation examples cannot give each of {num_replicas} processes one")
            batch_size = min(batch_size, n // num_replicas)  # then there are at least num_replicas batches
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool_batches = pool_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> BucketBySequenceLength:
        """Lightning calls ``set_epoch`` on ``dataloader.batch_sampler.sampler``, not on the batch
        sampler itself; pointing that at ourselves gives every epoch its own batch order."""
        return self

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = torch.argsort(self.lengths, descending=True, stable=True)
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(n, generator=g)
        pool = self.pool_batches * self.batch_size
        batches: list[list[int]] = []
        for start in range(0, n, pool):
            chunk = perm[start : start + pool]
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        if self.shuffle and len(batches) % self.num_replicas:
            short = self.num_replicas - len(batches) % self.num_replicas
            batches += [batches[i % len(batches)] for i in range(short)]  # cycles when batches < ranks
        yield from batches[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        n, bs = len(self.lengths), self.batch_size
        if self.shuffle:  # full pools hold pool_batches batches each; the last pool may be partial
            pool = self.pool_batches * bs
            n_batches = (n // pool) * self.pool_batches + -(-(n % pool) // bs)
            return -(-n_batches // self.num_replicas)
        return len(range(self.rank, -(-n // bs), self.num_replicas))
