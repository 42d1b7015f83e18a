"""Luong's location-based attention: a_t = softmax(W q_t), scores from the query alone."""

from __future__ import annotations

from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention


class LocationAttention(Attention):
    """score(q, k_s) = (W q)_s: one learned score per key position s < ``max_positions``; the keys'
    content is ignored (only their number). W: [max_positions, query_dim]."""

    def __init__(self, query_dim: int, key_dim: int, max_positions: int, alignment: Alignment | None = None) -> None:
        super().__init__(alignment)
        if max_positions < 1:
            raise ValueError(f"attention.max_positions={max_positions} must be >= 1 (the longest sequence)")
        self.max_positions = max_positions
        self.w = nn.Linear(query_dim, max_positions, bias=True)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        tk = keys.shape[1]
        if tk > self.max_positions:
            raise ValueError(
                f"location attention got {tk} keys but attention.max_positions={self.max_positions}; "
                "set it to at least data.max_length"
            )
        return self.w(query)[..., :tk]
