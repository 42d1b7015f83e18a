"""What the faithfulness analyses need from a model, and the tensor operations they share.

A model is analysable when it splits into three calls (:class:`Explainable`):

* ``embed(ids)``: token ids [B, T] → embeddings [B, T, E] (gradients and integrated gradients start here);
* ``attend(embedded, lengths, mask)``: everything up to and including the attention weights, as an
  :class:`Attended` (the encoder states the weighted sum reads, and the weights [B, R, T]);
* ``decide(attended, weights)``: everything after attention, for *given* weights [B, V, R, T] (V
  variants per example: permutations, erasures, adversaries), → logits [B, V, C].

``decide(attend(embed(ids), ...), attended.weights[:, None])[:, 0]`` is the model's own output. R rows
are the hops and/or heads; the analyses rank tokens by the rows' mean (:func:`attention_of`) and
intervene on every row alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

PAD_ID = 0  # the tokenizer's padding id; deleted tokens are replaced by it at the end of a row


@dataclass
class Attended:
    """One batch after attention. ``states``: what the weighted sum reads ([B, T, D] for the built-in
    classifier; opaque to the analyses); ``mask``: [B, T], True at valid tokens; ``weights``: [B, R, T],
    zero at padding, one row per hop or head."""

    states: Tensor
    mask: Tensor
    weights: Tensor


class Explainable(Protocol):
    """A classifier split at its attention; see the module docstring."""

    def embed(self, ids: Tensor) -> Tensor: ...

    def attend(self, embedded: Tensor, lengths: Tensor, mask: Tensor) -> Attended: ...

    def decide(self, attended: Attended, weights: Tensor) -> Tensor: ...


@dataclass
class Inputs:
    """The examples of one batch: ``ids`` [B, T] (padding after ``lengths`` [B] tokens); ``gold`` [B, T]
    marks the tokens that decide the label (synthetic tasks), or None; ``index``/``labels`` [B]: the
    examples' positions in their split and their true labels, where known (they go into the tables).
    ``mask`` [B, T], True at valid tokens, follows from the lengths."""

    ids: Tensor
    lengths: Tensor
    gold: Tensor | None = None
    index: Tensor | None = None
    labels: Tensor | None = None
    mask: Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.mask = torch.arange(self.ids.shape[1], device=self.ids.device)[None, :] < self.lengths[:, None]

    def __len__(self) -> int:
        return self.ids.shape[0]

    def head(self, n: int) -> Inputs:
        """The first ``n`` examples."""

        def cut(x: Tensor | None) -> Tensor | None:
            return None if x is None else x[:n]

        return Inputs(self.ids[:n], self.lengths[:n], cut(self.gold), cut(self.index), cut(self.labels))


def attention_of(weights: Tensor) -> Tensor:
    """One distribution per example: the mean over rows (hops/heads) of ``weights`` [B, R, T] → [B, T]."""
    return weights.mean(1)


@contextmanager
def gradients_enabled() -> Iterator[None]:
    """Gradients on, and cuDNN off: cuDNN's LSTM has no backward in eval mode."""
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        yield


def logits_from_embeddings(
    model: Explainable, embedded: Tensor, lengths: Tensor, mask: Tensor, detach_attention: bool = False
) -> Tensor:
    """The model's logits [B, C] for embeddings [B, T, E]; ``detach_attention`` stops gradients through
    the weights (J&W's gradient, where only the values carry the input's influence)."""
    attended = model.attend(embedded, lengths, mask)
    weights = attended.weights.detach() if detach_attention else attended.weights
    return model.decide(attended, weights[:, None])[:, 0]


def probabilities(model: Explainable, ids: Tensor, lengths: Tensor, chunk: int = 256) -> Tensor:
    """Output distributions [N, C] for token ids [N, T] with ``lengths`` [N], ``chunk`` rows at a time."""
    out = []
    with torch.no_grad():
        for start in range(0, ids.shape[0], chunk):
            part, n = ids[start : start + chunk], lengths[start : start + chunk]
            width = max(int(n.max()), 1)
            part = part[:, :width]
            mask = torch.arange(width, device=ids.device)[None, :] < n[:, None]
            logits = logits_from_embeddings(model, model.embed(part), n, mask)
            out.append(torch.softmax(logits.float(), -1))
    return torch.cat(out)


def keep_tokens(ids: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
    """Delete tokens: the kept tokens of ``ids`` [N, T] (``keep`` [N, T], False at padding) moved to the
    front in order, padding after. Returns ids [N, T] and lengths [N]."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    lengths = keep.sum(1)
    kept = ids.gather(1, order)
    valid = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
    return kept.masked_fill(~valid, PAD_ID), lengths


def tvd(p: Tensor, q: Tensor) -> Tensor:
    """Total variation distance ½‖p − q‖₁ over the last axis."""
    return 0.5 * (p - q).abs().sum(-1)


def jsd(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence over the last axis, natural log (at most ln 2); zeros are fine."""
    m = 0.5 * (p + q)

    def kl(a: Tensor) -> Tensor:
        return torch.where(a > 0, a * (a.clamp(min=1e-30).log() - m.clamp(min=1e-30).log()), torch.zeros_like(a))

    return (0.5 * (kl(p) + kl(q))).sum(-1).clamp(min=0)


def seeded(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator fixed by ``seed`` and ``keys`` (e.g. the batch number), so results do not depend
    on the device or on which examples share a batch."""
    gen = torch.Generator()
    gen.manual_seed(hash((seed, *keys)) & 0x7FFF_FFFF_FFFF_FFFF)
    return gen


def top_k_mask(scores: Tensor, mask: Tensor, k: Tensor, tiebreak: Tensor | None = None) -> Tensor:
    """True at the ``k`` [B] highest-scoring valid positions of ``scores`` [B, T] (ties: see :func:`rank_order`)."""
    ranked = rank_order(scores, mask, tiebreak)  # [B, T] positions, best first
    rank = torch.empty_like(ranked)
    rank.scatter_(1, ranked, torch.arange(scores.shape[1], device=scores.device).expand_as(ranked))
    return (rank < k[:, None]) & mask


def rank_order(scores: Tensor, mask: Tensor, tiebreak: Tensor | None = None) -> Tensor:
    """Positions [B, T] sorted by ``scores`` [B, T], highest first, padding last. Tied scores are ordered
    by ``tiebreak`` [B, T] (highest first; random scores, so that ties do not follow token order), or
    by position without it. Rows whose scores are all tied (:func:`all_tied`) have no ranking: the
    measurements report them as undefined."""
    filled = scores.float().masked_fill(~mask, float("-inf"))
    if tiebreak is None:
        return torch.argsort(filled, dim=1, descending=True, stable=True)
    by_tiebreak = torch.argsort(tiebreak.float(), dim=1, descending=True)  # then a stable sort by score
    order = torch.argsort(filled.gather(1, by_tiebreak), dim=1, descending=True, stable=True)
    return by_tiebreak.gather(1, order)


def all_tied(scores: Tensor, mask: Tensor) -> Tensor:
    """True [B] where the valid ``scores`` [B, T] of an example (at least two) are all equal: uniform
    attention ranks nothing, as Kendall τ is undefined for a constant ranking."""
    values = scores.float()
    high = values.masked_fill(~mask, float("-inf")).max(1).values
    low = values.masked_fill(~mask, float("inf")).min(1).values
    return (mask.sum(1) >= 2) & (high == low)


def undefined_where(values: Tensor, undefined: Tensor) -> Tensor:
    """``values`` [B, ...] with NaN in the examples where ``undefined`` [B] is True."""
    shape = (-1,) + (1,) * (values.dim() - 1)
    return values.float().masked_fill(undefined.view(shape), float("nan"))
