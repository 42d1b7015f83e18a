"""Dot-product attention (Luong's "dot"), with the options of Keras ``layers.Attention``.

``score_mode='dot'``: score(q, k) = qᵀk; ``score_mode='concat'``: Keras's parameter-light additive
form, score(q, k) = c · Σ tanh(q + k) with a learned scalar c (initially 1). ``use_scale``: a learned
scalar s (initially 1) multiplies the dot scores, or the sum inside tanh in concat mode, as in Keras.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.models.attention.alignment import Alignment
from attnbench.models.attention.base import Attention

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
    ) -> None:
        super().__init__(alignment, query_dim=query_dim, key_dim=key_dim, use_scale=use_scale)
        if score_mode not in SCORE_MODES:
            raise ValueError(f"attention.score_mode={score_mode!r}; use one of {list(SCORE_MODES)}")
        self.score_mode = score_mode
        self.concat_score_weight = nn.Parameter(torch.ones(())) if score_mode == "concat" else None

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        if self.concat_score_weight is None:
            scores = query @ keys.transpose(1, 2)
            return scores if self.scale is None else scores * self.scale
        summed = query[:, :, None, :] + keys[:, None, :, :]  # [B, Tq, Tk, D]
        if self.scale is not None:
            summed = summed * self.scale
        return self.concat_score_weight * summed.tanh().sum(-1)
