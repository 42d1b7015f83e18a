"""Scaled dot-product attention (Vaswani et al. 2017): score(q, k) = qᵀk / √d."""

from __future__ import annotations

import math

from torch import Tensor

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention


class ScaledDotAttention(Attention):
    """``d`` is the key size. ``use_scale``: a learned scalar (initially 1) on top of 1/√d."""

    same_dims = True
    name = "scaled_dot"

    def __init__(
        self, query_dim: int, key_dim: int, use_scale: bool = False, alignment: Alignment | None = None
    ) -> None:
        super().__init__(alignment, query_dim=query_dim, key_dim=key_dim, use_scale=use_scale)
        self.inv_sqrt_d = 1.0 / math.sqrt(key_dim)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.scaled((query @ keys.transpose(1, 2)) * self.inv_sqrt_d)
