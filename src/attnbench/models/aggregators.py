"""Aggregators turn encoder states [B, T, D] into one vector per sequence [B, D_out].

``Pooling`` (last / mean / max, mask-aware) is the no-attention baseline; ``AttentionPooling``
attends with one or more learned queries and also returns its weights for plots and tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnbench.models.attention import SCORES
from attnbench.models.encoders import EncoderOutput


@dataclass
class Aggregate:
    """``vector``: [B, D_out]; ``weights``: [B, hops, T] attention weights, or None for pooling."""

    vector: Tensor
    weights: Tensor | None = None


class Pooling(nn.Module):
    """``last``: the encoder's final state; ``mean``/``max``: over valid positions only."""

    def __init__(self, input_size: int, mode: str = "last") -> None:
        super().__init__()
        if mode not in ("last", "mean", "max"):
            raise ValueError(f"pooling.mode={mode!r}; use last, mean or max")
        self.mode = mode
        self.output_size = input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Aggregate:
        if self.mode == "last":
            return Aggregate(enc.final)
        m = mask[..., None]
        if self.mode == "mean":
            total = (enc.states * m.to(enc.states.dtype)).sum(1)
            return Aggregate(total / m.sum(1).clamp(min=1).to(total.dtype))
        filled = enc.states.masked_fill(~m, torch.finfo(enc.states.dtype).min)
        return Aggregate(torch.where(m.any(1), filled.max(1).values, torch.zeros_like(filled[:, 0])))


class AttentionPooling(nn.Module):
    """Attention with ``hops`` learned query vectors over the encoder states.

    Output: the ``hops`` context vectors concatenated, [B, hops * D].
    """

    def __init__(
        self,
        input_size: int,
        score: str = "additive",
        alignment: str = "soft",
        query: str = "learned",
        hidden_size: int = 128,
        hops: int = 1,
    ) -> None:
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"attention.score={score!r} is not available; available: {sorted(SCORES)}")
        if alignment != "soft":
            raise ValueError(f"attention.alignment={alignment!r} is not available; available: ['soft']")
        if query != "learned":
            raise ValueError(f"attention.query={query!r} is not available; available: ['learned']")
        self.query = nn.Parameter(torch.randn(hops, hidden_size) / math.sqrt(hidden_size))
        self.attention = SCORES[score](query_dim=hidden_size, key_dim=input_size, hidden_size=hidden_size)
        self.output_size = hops * input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Aggregate:
        query = self.query[None].expand(enc.states.shape[0], -1, -1)  # [B, hops, H]
        out = self.attention(query, enc.states, mask=mask)
        return Aggregate(out.context.flatten(1), out.weights)


def build_aggregator(attention: dict, pooling: dict, input_size: int) -> nn.Module:
    """``attention.name == 'none'`` → :class:`Pooling` from ``pooling``; else :class:`AttentionPooling`."""
    attention = dict(attention)
    name = attention.pop("name")
    if name == "none":
        return Pooling(input_size, **pooling)
    if name != "attention":
        raise ValueError(f"attention.name={name!r} is unknown; use 'none' or 'attention'")
    return AttentionPooling(input_size, **attention)
