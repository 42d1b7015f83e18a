"""Content-based attention (Graves et al. 2014, NTM): score(q, k) = β · cos(q, k)."""

from __future__ import annotations

from torch import Tensor, nn

from attnbench.models.attention.base import Attention


class CosineAttention(Attention):
    """Cosine similarity scores lie in [-1, 1], so a softmax over them is nearly flat; ``use_scale``
    learns Graves's key strength β (initially 1), which the base creates. Zero vectors (e.g. padding)
    score 0. Constructed as the base is: ``CosineAttention(alignment, query_dim=, key_dim=, use_scale=)``."""

    same_dims = True
    name = "cosine"

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        normalize = nn.functional.normalize
        scores = normalize(query, dim=-1, eps=1e-8) @ normalize(keys, dim=-1, eps=1e-8).transpose(1, 2)
        return self.scaled(scores)
