"""Multi-head scaled dot-product attention of any queries over keys, with the :class:`Attention` call.

The decoder's reference attention (``attention=multihead``): queries, keys and values projected to
``hidden_size``, split into ``heads``, combined by ``torch.nn.functional.scaled_dot_product_attention``,
the heads concatenated and projected back to the value size, so it stands where a score-based
attention stands. The weights it reports are averaged over heads (SDPA does not return them).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from attnbench.models.attention.alignment import masked_softmax
from attnbench.models.attention.base import AttentionOutput


class MultiHeadCrossAttention(nn.Module):
    """``forward(query [B, Tq, Dq], keys [B, Tk, Dk], values [B, Tk, Dk], mask [B, Tk]) -> AttentionOutput``
    with context [B, Tq, Dk] and weights [B, Tq, Tk]."""

    def __init__(
        self, query_dim: int, key_dim: int, heads: int = 4, hidden_size: int = 128, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if heads < 1 or hidden_size % heads:
            raise ValueError(f"attention.heads={heads} must divide attention.hidden_size={hidden_size}")
        self.heads, self.dropout = heads, dropout
        self.q_proj = nn.Linear(query_dim, hidden_size)
        self.k_proj, self.v_proj = nn.Linear(key_dim, hidden_size), nn.Linear(key_dim, hidden_size)
        self.out_proj = nn.Linear(hidden_size, key_dim)

    def _split(self, x: Tensor) -> Tensor:  # [B, T, H] → [B, heads, T, H / heads]
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, *_: object) -> AttentionOutput:
        """``values`` and ``mask`` as in :class:`Attention`; a further argument (``positions``) is ignored."""
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(keys)), self._split(self.v_proj(values))
        has_key = mask.any(-1)  # [B]; SDPA gives NaN for a row without keys: open it, then zero it
        attn_mask = (mask | ~has_key[:, None])[:, None, None, :]
        context = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        context = self.out_proj(context.transpose(1, 2).flatten(2)) * has_key[:, None, None].to(q.dtype)
        b, h, tq, tk = q.shape[0], self.heads, q.shape[2], k.shape[2]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        weights = masked_softmax(scores.reshape(b, h * tq, tk), mask).view(b, h, tq, tk).mean(1)
        return AttentionOutput(context, weights)
