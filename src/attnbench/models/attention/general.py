"""Luong's "general" attention: score(q, k) = qᵀ W k."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention


class GeneralAttention(Attention):
    """W: [query_dim, key_dim]. ``use_scale``: a learned scalar (initially 1) on the scores."""

    def __init__(
        self, query_dim: int, key_dim: int, use_scale: bool = False, alignment: Alignment | None = None
    ) -> None:
        super().__init__(alignment)
        self.w = nn.Linear(key_dim, query_dim, bias=False)  # W k
        self.scale = nn.Parameter(torch.ones(())) if use_scale else None

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        scores = query @ self.w(keys).transpose(1, 2)
        return scores if self.scale is None else scores * self.scale
