"""Additive (Bahdanau) attention: score(q, k) = vᵀ tanh(W q + U k)."""

from __future__ import annotations

from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention


class AdditiveAttention(Attention):
    """Bahdanau et al. 2015. ``query_dim`` → W, ``key_dim`` → U, both to ``hidden_size``; v to a scalar.

    Memory: the hidden layer is [B, Tq, Tk, hidden_size], so with ``query=self`` it grows with T².
    """

    def __init__(
        self, query_dim: int, key_dim: int, hidden_size: int = 128, alignment: Alignment | None = None
    ) -> None:
        super().__init__(alignment)
        self.w_query = nn.Linear(query_dim, hidden_size, bias=False)
        self.w_key = nn.Linear(key_dim, hidden_size, bias=True)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        # [B, Tq, 1, H] + [B, 1, Tk, H] → [B, Tq, Tk]
        hidden = self.w_query(query)[:, :, None, :] + self.w_key(keys)[:, None, :, :]
        return self.v(hidden.tanh()).squeeze(-1)
