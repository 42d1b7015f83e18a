"""Scaled dot-product attention (Vaswani et al. 2017): score(q, k) = qᵀk / √d."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention, check_same_dims


class ScaledDotAttention(Attention):
    """``d`` is the key size. ``use_scale``: a learned scalar (initially 1) on top of 1/√d."""

    same_dims = True

    def __init__(
        self, query_dim: int, key_dim: int, use_scale: bool = False, alignment: Alignment | None = None
    ) -> None:
        super().__init__(alignment)
        check_same_dims("scaled_dot", query_dim, key_dim)
        self.inv_sqrt_d = 1.0 / math.sqrt(key_dim)
        self.scale = nn.Parameter(torch.ones(())) if use_scale else None

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        scores = (query @ keys.transpose(1, 2)) * self.inv_sqrt_d
        return scores if self.scale is None else scores * self.scale
