"""Attention base class: variants write ``score``; masking, alignment and the weighted sum live here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment, masked_softmax

__all__ = ["Attention", "AttentionOutput", "masked_softmax"]


@dataclass
class AttentionOutput:
    """``context``: [B, Tq, Dv]; ``weights``: [B, Tq, Tk] (zero at masked keys); ``log_prob``: [B, Tq] for
    hard alignment trained with REINFORCE (None otherwise); ``centres``: [B, Tq] local window centres."""

    context: Tensor
    weights: Tensor
    log_prob: Tensor | None = None
    centres: Tensor | None = None


class Attention(nn.Module):
    """Attention of queries over keys.

    Subclasses implement :meth:`score`. ``forward(query [B, Tq, Dq], keys [B, Tk, Dk],
    values [B, Tk, Dv] = keys, mask [B, Tk], positions [B, Tq])`` returns an :class:`AttentionOutput`.
    ``alignment`` (default: soft) turns scores into weights; ``positions`` are the aligned positions
    that ``local_m`` centres its windows on.

    The base owns what several scores share, as Keras's base attention layer does: the check that
    ``query_dim == key_dim`` for a score that takes dot products of q and k (``same_dims``), and
    ``use_scale``, a learned scalar ``scale`` (initially 1) that a score applies with :meth:`scaled`
    (None without ``use_scale``). A score offers ``use_scale`` when its constructor takes it.
    """

    same_dims: ClassVar[bool] = False
    name: ClassVar[str] = ""  # the score's ``attention.score`` name, for error messages

    def __init__(
        self, alignment: Alignment | None = None, *, query_dim: int = 0, key_dim: int = 0, use_scale: bool = False
    ) -> None:
        super().__init__()
        if self.same_dims and query_dim != key_dim:
            raise ValueError(
                f"attention.score={self.name!r} needs query and keys of one size, got {query_dim} and {key_dim}"
            )
        self.alignment = alignment if alignment is not None else Alignment("soft")
        self.scale = nn.Parameter(torch.ones(())) if use_scale else None

    def scaled(self, scores: Tensor) -> Tensor:
        """``scores`` times the learned scale (``use_scale``), or as they are."""
        return scores if self.scale is None else scores * self.scale

    def score(self, query: Tensor, keys: Tensor) -> Tensor:  # [B, Tq, Tk]
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        positions: Tensor | None = None,
    ) -> AttentionOutput:
        aligned = self.alignment(self.score(query, keys), query, mask, positions)
        context = aligned.weights @ (keys if values is None else values)
        return AttentionOutput(context, aligned.weights, aligned.log_prob, aligned.centres)
