"""Additive (Bahdanau) attention: score(q, k) = vᵀ tanh(W q + U k)."""

from __future__ import annotations

from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention
from attnbench.models.attention.chunked import check_chunk_size, tanh_scores


class AdditiveAttention(Attention):
    """Bahdanau et al. 2015. ``query_dim`` → W, ``key_dim`` → U, both to ``hidden_size``; v to a scalar.

    Memory: the hidden layer is [B, Tq, Tk, hidden_size], so with ``query=self`` it grows with T².
    ``chunk_size`` (``auto`` | ``direct`` | N) bounds it: W q and U k are projected once, and the tanh
    layer is built a block of queries at a time, again in the backward pass
    (:mod:`attnbench.models.attention.chunked`).
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        hidden_size: int = 128,
        alignment: Alignment | None = None,
        chunk_size: int | str = "auto",
    ) -> None:
        super().__init__(alignment)
        self.w_query = nn.Linear(query_dim, hidden_size, bias=False)
        self.w_key = nn.Linear(key_dim, hidden_size, bias=True)
        self.v = nn.Linear(hidden_size, 1, bias=False)
        self.chunk_size = check_chunk_size(chunk_size)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        # [B, Tq, H] and [B, Tk, H] → [B, Tq, Tk]
        return tanh_scores(self.w_query(query), self.w_key(keys), self.v.weight[0], self.chunk_size)
