"""Aggregators turn encoder states [B, T, D] into one vector per sequence [B, D_out].

``Pooling`` (last / mean / max, mask-aware) is the no-attention baseline. ``AttentionPooling`` is the
attention space: any score × alignment × query (``attention.score/alignment/query``);
``MultiHeadAttentionPooling`` is scaled dot over several heads with
``torch.nn.functional.scaled_dot_product_attention``. Both return their weights for plots and tests.

Query kinds, and the aligned position p that ``alignment=local_m`` centres its window on
(L = the sequence's number of valid tokens):

* ``learned``: ``hops`` learned query vectors; output = the hops' contexts concatenated. local_m:
  hop i of r aligns monotonically to the middle of the i-th of r equal parts of the sequence,
  p_i = floor((2i + 1)·L / 2r) (one hop: the middle of the text).
* ``last``: the encoder's final state is the one query. local_m: p = L − 1, the position where that
  state was read.
* ``self``: every position attends over the sequence (Keras ``Attention()([states, states])``);
  local_m: p = t, Luong's monotonic case. The contexts are then mean-pooled over valid positions,
  the ``GlobalAveragePooling1D`` of the Keras example. Since the mean of weighted sums is one
  weighted sum, the reported weights [B, 1, T] are the attention each key receives averaged over
  the valid queries: exactly the weights of the pooled vector.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnbench.models.attention import SCORES, Alignment, masked_softmax
from attnbench.models.encoders import EncoderOutput


@dataclass
class Aggregate:
    """``vector``: [B, D_out]; ``weights``: [B, rows, T] attention weights (a row per hop, or per head
    and hop), or None for pooling; ``penalty``: a scalar loss term (Lin et al. 2017) or None;
    ``log_prob``: [B], the log-probability of hard positions sampled for REINFORCE, or None."""

    vector: Tensor
    weights: Tensor | None = None
    penalty: Tensor | None = None
    log_prob: Tensor | None = None


class Pooling(nn.Module):
    """``last``: the encoder's final state; ``mean``/``max``: over valid positions only."""

    def __init__(self, input_size: int, mode: str = "last") -> None:
        super().__init__()
        if mode not in ("last", "mean", "max"):
            raise ValueError(f"pooling.mode={mode!r}; use last, mean or max")
        self.mode = mode
        self.output_size = input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Aggregate:
        if self.mode == "last":
            return Aggregate(enc.final)
        m = mask[..., None]
        if self.mode == "mean":
            total = (enc.states * m.to(enc.states.dtype)).sum(1)
            return Aggregate(total / m.sum(1).clamp(min=1).to(total.dtype))
        filled = enc.states.masked_fill(~m, torch.finfo(enc.states.dtype).min)
        return Aggregate(torch.where(m.any(1), filled.max(1).values, torch.zeros_like(filled[:, 0])))


QUERIES = ("learned", "last", "self")


def structured_penalty(weights: Tensor) -> Tensor:
    """Lin et al. 2017: ‖A Aᵀ − I‖²_F for weights A [B, hops, T], averaged over the batch.

    Zero when the hops are one-hot on distinct positions; it pushes hops apart and towards peaks.
    """
    eye = torch.eye(weights.shape[1], dtype=weights.dtype, device=weights.device)
    return ((weights @ weights.transpose(1, 2) - eye) ** 2).sum((1, 2)).mean()


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` [B, T, ...] over the positions where ``mask`` [B, T] is True (zeros if none)."""
    m = mask.to(x.dtype).view(*mask.shape, *([1] * (x.dim() - 2)))
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def local_m_positions(query: str, hops: int, mask: Tensor) -> Tensor | None:
    """Aligned positions [B, hops or 1] for ``local_m`` (module docstring); None for ``self`` (p = t)."""
    lengths = mask.sum(-1, keepdim=True)  # [B, 1]
    if query == "self":
        return None
    if query == "last":
        return (lengths - 1).clamp(min=0)
    i = torch.arange(hops, device=mask.device)[None, :]
    return torch.div((2 * i + 1) * lengths, 2 * hops, rounding_mode="floor").clamp(max=(lengths - 1).clamp(min=0))


def check_query(query: str, hops: int) -> None:
    if query not in QUERIES:
        raise ValueError(f"attention.query={query!r} is not available; available: {list(QUERIES)}")
    if hops < 1 or (hops > 1 and query != "learned"):
        raise ValueError(f"attention.hops={hops}: must be >= 1, and more than one hop needs attention.query=learned")


def queries(kind: str, learned: Tensor | None, enc: EncoderOutput) -> Tensor:
    """The queries [B, Tq, D] of a query kind: learned vectors, the final state, or every state."""
    if kind == "learned":
        return learned[None].expand(enc.states.shape[0], -1, -1)
    return enc.final[:, None, :] if kind == "last" else enc.states


class AttentionPooling(nn.Module):
    """One score function (``score``) with one alignment over the encoder states, for one query kind.

    ``hidden_size``: additive's hidden layer, local_p's predictor, and the size of learned queries
    for scores that do not need ``query_dim == key_dim`` (dot, scaled_dot and cosine do).
    ``penalty``: weight of the structured self-attention penalty (``query=learned`` only).
    ``use_scale``/``score_mode``: Keras options of the dot-product scores; ``max_positions``: the
    longest sequence ``location`` scores; ``window``: local half-width D; ``hard_estimator`` and
    ``temperature``: how ``hard`` trains.
    Output size: ``hops * D`` for learned queries, ``D`` otherwise.
    """

    def __init__(
        self,
        input_size: int,
        score: str = "additive",
        alignment: str = "soft",
        query: str = "learned",
        hidden_size: int = 128,
        hops: int = 1,
        penalty: float = 0.0,
        use_scale: bool = False,
        score_mode: str = "dot",
        window: int = 10,
        hard_estimator: str = "gumbel",
        temperature: float = 1.0,
        max_positions: int = 512,
        chunk_size: int | str = "auto",
    ) -> None:
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"attention.score={score!r} is not available; available: {sorted(SCORES)}")
        check_query(query, hops)
        if penalty and query != "learned":
            raise ValueError(f"attention.penalty={penalty} needs attention.query=learned (it penalises the hops)")
        self.kind, self.hops, self.penalty = query, hops, penalty
        cls = SCORES[score]
        query_dim = input_size if cls.same_dims or query != "learned" else hidden_size
        if query == "learned":  # created first: the seeded initialisation of the additive default stays put
            self.query = nn.Parameter(torch.randn(hops, query_dim) / math.sqrt(query_dim))
        else:
            self.register_parameter("query", None)
        align = Alignment(alignment, query_dim, hidden_size, window, hard_estimator, temperature)
        options = {"hidden_size": hidden_size, "use_scale": use_scale, "score_mode": score_mode,
                   "max_positions": max_positions, "chunk_size": chunk_size}
        accepted = inspect.signature(cls).parameters
        for key, default in (("use_scale", False), ("score_mode", "dot")):
            if options[key] != default and key not in accepted:
                users = [n for n, c in SCORES.items() if key in inspect.signature(c).parameters]
                raise ValueError(f"attention.{key}={options[key]!r} does not apply to attention.score={score!r}; "
                                 f"it applies to {users}")
        kwargs = {k: v for k, v in options.items() if k in accepted}
        self.attention = cls(query_dim=query_dim, key_dim=input_size, alignment=align, **kwargs)
        self.output_size = (hops if query == "learned" else 1) * input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Aggregate:
        query = queries(self.kind, self.query, enc)
        out = self.attention(query, enc.states, mask=mask, positions=local_m_positions(self.kind, self.hops, mask))
        log_prob = None
        if self.kind == "self":
            vector, weights = masked_mean(out.context, mask), masked_mean(out.weights, mask)[:, None, :]
            if out.log_prob is not None:
                log_prob = (out.log_prob * mask.to(out.log_prob.dtype)).sum(-1)  # valid queries only
        else:
            vector, weights = out.context.flatten(1), out.weights
            if out.log_prob is not None:
                log_prob = out.log_prob.sum(-1)
        penalty = self.penalty * structured_penalty(out.weights) if self.penalty else None
        return Aggregate(vector, weights, penalty, log_prob)


class MultiHeadAttentionPooling(nn.Module):
    """Scaled dot-product attention over ``heads`` heads (Vaswani et al. 2017), computed by
    ``torch.nn.functional.scaled_dot_product_attention``.

    Queries, keys and values are projected to ``hidden_size`` (split into ``heads`` heads), the
    heads' contexts concatenated and projected again, as in ``nn.MultiheadAttention``. ``query``
    works as in :class:`AttentionPooling` (``self`` contexts are mean-pooled). ``need_weights``:
    also compute the weights (one extra QKᵀ; SDPA does not return them); ``average_attn_weights``:
    average them over heads ([B, hops, T]) or keep one row per head and hop ([B, heads * hops, T],
    head-major). ``dropout``: on the attention weights, in training.
    Output size: ``hops * hidden_size`` for learned queries, ``hidden_size`` otherwise.
    """

    def __init__(
        self,
        input_size: int,
        heads: int = 4,
        hidden_size: int = 128,
        query: str = "learned",
        hops: int = 1,
        need_weights: bool = True,
        average_attn_weights: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_query(query, hops)
        if heads < 1 or hidden_size % heads:
            raise ValueError(f"attention.heads={heads} must divide attention.hidden_size={hidden_size}")
        self.kind, self.heads, self.hops, self.dropout = query, heads, hops, dropout
        self.need_weights, self.average_attn_weights = need_weights, average_attn_weights
        if query == "learned":
            self.query = nn.Parameter(torch.randn(hops, input_size) / math.sqrt(input_size))
        else:
            self.register_parameter("query", None)
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(input_size, hidden_size) for _ in range(3))
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.output_size = (hops if query == "learned" else 1) * hidden_size

    def _split(self, x: Tensor) -> Tensor:  # [B, T, H] → [B, heads, T, H / heads]
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Aggregate:
        q = self._split(self.q_proj(queries(self.kind, self.query, enc)))
        k, v = self._split(self.k_proj(enc.states)), self._split(self.v_proj(enc.states))
        has_key = mask.any(-1)  # [B]
        # SDPA gives NaN for a row without a valid key: let such rows see everything, then zero them
        attn_mask = (mask | ~has_key[:, None])[:, None, None, :]  # [B, 1, 1, Tk]
        context = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        context = context * has_key[:, None, None, None].to(context.dtype)
        context = self.out_proj(context.transpose(1, 2).flatten(2))  # [B, Tq, hidden]
        weights = None
        if self.need_weights:
            b, h, tq, tk = q.shape[0], self.heads, q.shape[2], k.shape[2]
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
            weights = masked_softmax(scores.reshape(b, h * tq, tk), mask).view(b, h, tq, tk)
        if self.kind == "self":
            vector = masked_mean(context, mask)
            if weights is not None:  # per head: what each key receives, averaged over valid queries
                weights = masked_mean(weights.transpose(1, 2), mask)  # [B, heads, Tk]
                weights = weights.mean(1, keepdim=True) if self.average_attn_weights else weights
        else:
            vector = context.flatten(1)
            if weights is not None:
                weights = weights.mean(1) if self.average_attn_weights else weights.flatten(1, 2)
        return Aggregate(vector, weights)


def build_aggregator(attention: dict, pooling: dict, input_size: int) -> nn.Module:
    """``attention.name``: ``none`` → :class:`Pooling` from ``pooling``; ``attention`` →
    :class:`AttentionPooling`; ``multihead`` → :class:`MultiHeadAttentionPooling`."""
    attention = dict(attention)
    name = attention.pop("name")
    if name == "none":
        return Pooling(input_size, **pooling)
    if name == "attention":
        return AttentionPooling(input_size, **attention)
    if name == "multihead":
        return MultiHeadAttentionPooling(input_size, **attention)
    raise ValueError(f"attention.name={name!r} is unknown; use 'none', 'attention' or 'multihead'")
