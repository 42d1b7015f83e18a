"""Attention base class: variants write ``score``; masking, alignment and the weighted sum live here."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class AttentionOutput:
    """``context``: [B, Tq, Dv]; ``weights``: [B, Tq, Tk] (zero at masked keys)."""

    context: Tensor
    weights: Tensor


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis that gives masked keys exactly zero weight.

    ``scores``: [B, Tq, Tk]; ``mask``: [B, Tk] or [B, Tq, Tk], True where a key is valid.
    A row with no valid key yields zeros, never NaN (and zero gradient).
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    if mask.dim() == 2:
        mask = mask[:, None, :]
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * mask.to(scores.dtype)


class Attention(nn.Module):
    """Soft attention of queries over keys.

    Subclasses implement :meth:`score`. ``forward(query [B, Tq, Dq], keys [B, Tk, Dk],
    values [B, Tk, Dv] = keys, mask [B, Tk])`` returns an :class:`AttentionOutput`.
    """

    def score(self, query: Tensor, keys: Tensor) -> Tensor:  # [B, Tq, Tk]
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor | None = None, mask: Tensor | None = None
    ) -> AttentionOutput:
        weights = masked_softmax(self.score(query, keys), mask)
        context = weights @ (keys if values is None else values)
        return AttentionOutput(context, weights)
