"""Luong's "general" attention: score(q, k) = qᵀ W k."""

from __future__ import annotations

from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention


class GeneralAttention(Attention):
    """W: [query_dim, key_dim]. ``use_scale``: a learned scalar (initially 1) on the scores."""

    def __init__(
        self, query_dim: int, key_dim: int, use_scale: bool = False, alignment: Alignment | None = None
    ) -> None:
        super().__init__(alignment, query_dim=query_dim, key_dim=key_dim, use_scale=use_scale)
        self.w = nn.Linear(key_dim, query_dim, bias=False)  # W k

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.scaled(query @ self.w(keys).transpose(1, 2))
