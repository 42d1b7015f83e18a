"""Dot-product attention (Luong's "dot"), with the options of Keras ``layers.Attention``.

``score_mode='dot'``: score(q, k) = qᵀk; ``score_mode='concat'``: Keras's parameter-light additive
form, score(q, k) = c · Σ tanh(q + k) with a learned scalar c (initially 1). ``use_scale``: a learned
scalar s (initially 1) multiplies the dot scores, or the sum inside tanh in concat mode, as in Keras.
Concat builds a [B, Tq, Tk, D] tanh layer; ``chunk_size`` (``auto`` | ``direct`` | N) bounds it as for
additive attention (:mod:`attnbench.models.attention.chunked`, with a = s·q, c = s·k and v = c·1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention
from attnbench.models.attention.chunked import check_chunk_size, tanh_scores

SCORE_MODES = ("dot", "concat")


class DotAttention(Attention):
    same_dims = True
    name = "dot"

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        use_scale: bool = False,
        score_mode: str = "dot",
        alignment: Alignment | None = None,
        chunk_size: int | str = "auto",
    ) -> None:
        super().__init__(alignment, query_dim=query_dim, key_dim=key_dim, use_scale=use_scale)
        if score_mode not in SCORE_MODES:
            raise ValueError(f"attention.score_mode={score_mode!r}; use one of {list(SCORE_MODES)}")
        self.score_mode = score_mode
        self.concat_score_weight = nn.Parameter(torch.ones(())) if score_mode == "concat" else None
        self.chunk_size = check_chunk_size(chunk_size)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        if self.concat_score_weight is None:
            scores = query @ keys.transpose(1, 2)
            return scores if self.scale is None else scores * self.scale
        if self.scale is not None:  # s·(q + k) = s·q + s·k: scaled once per position, not per pair
            query, keys = query * self.scale, keys * self.scale
        weight = self.concat_score_weight.expand(query.shape[-1])  # c · Σ_d = (c, …, c)ᵀ
        return tanh_scores(query, keys, weight, self.chunk_size)  # [B, Tq, Tk]
