"""Pooling layers turn encoder states [B, T, D] into one vector per sequence [B, D_out]: the classifier's
aggregator.

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
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.config.schema import AttentionConfig, MultiHeadConfig, PoolingConfig
from attnbench.models.attention import SCORES, Alignment, masked_softmax
from attnbench.models.encoders import EncoderOutput, masked_mean


@dataclass
class Pooled:
    """``vector``: [B, D_out]; ``weights``: [B, rows, T] attention weights (a row per hop, or per head
    and hop), or None for pooling; ``penalty``: a scalar loss term (Lin et al. 2017) or None;
    ``log_prob``: [B], the log-probability of hard positions sampled for REINFORCE, or None."""

    vector: Tensor
    weights: Tensor | None = None
    penalty: Tensor | None = None
    log_prob: Tensor | None = None


class Pooling(nn.Module):
    """``last``: the encoder's final state; ``mean``/``max``: over valid positions only."""

    def __init__(self, input_size: int, mode: str = PoolingConfig.mode) -> None:
        super().__init__()
        if mode not in ("last", "mean", "max"):
            raise ValueError(f"pooling.mode={mode!r}; use last, mean or max")
        self.mode = mode
        self.output_size: int = input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Pooled:
        if self.mode == "last":
            return Pooled(enc.final)
        if self.mode == "mean":
            return Pooled(masked_mean(enc.states, mask))
        m = mask[..., None]
        filled = enc.states.masked_fill(~m, torch.finfo(enc.states.dtype).min)
        return Pooled(torch.where(m.any(1), filled.max(1).values, torch.zeros_like(filled[:, 0])))


QUERIES = ("learned", "last", "self")


def structured_penalty(weights: Tensor) -> Tensor:
    """Lin et al. 2017: ‖A Aᵀ − I‖²_F for weights A [B, hops, T], averaged over the batch.

    Zero when the hops are one-hot on distinct positions; it pushes hops apart and towards peaks.
    """
    eye = torch.eye(weights.shape[1], dtype=weights.dtype, device=weights.device)
    return ((weights @ weights.transpose(1, 2) - eye) ** 2).sum((1, 2)).mean()


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
        assert learned is not None, "query=learned has learned query vectors"
        return learned[None].expand(enc.states.shape[0], -1, -1)
    return enc.final[:, None, :] if kind == "last" else enc.states


def score_options(o: AttentionConfig) -> dict[str, Any]:
    """The settings of ``o`` that the class of ``o.score`` takes (``hidden_size``, ``use_scale``, ...). A
    Keras option set away from its default for a score that ignores it is an error, not a silent no-op;
    ``location`` needs ``max_positions``."""
    accepted = inspect.signature(SCORES[o.score]).parameters
    for key in ("use_scale", "score_mode"):
        if getattr(o, key) != getattr(AttentionConfig, key) and key not in accepted:
            users = [n for n, c in SCORES.items() if key in inspect.signature(c).parameters]
            raise ValueError(
                f"attention.{key}={getattr(o, key)!r} does not apply to attention.score={o.score!r}; "
                f"it applies to {users}"
            )
    if "max_positions" in accepted and o.max_positions is None:
        raise ValueError(f"attention.score={o.score!r} needs attention.max_positions (at least data.max_length)")
    # attention.alignment names the Alignment module the score is given, not one of its settings
    return {f.name: getattr(o, f.name) for f in fields(o) if f.name in accepted and f.name != "alignment"}


def learned_queries(kind: str, hops: int, size: int) -> nn.Parameter | None:
    """``hops`` learned query vectors [hops, size] for ``query=learned`` (None for the other kinds)."""
    return nn.Parameter(torch.randn(hops, size) / math.sqrt(size)) if kind == "learned" else None


class AttentionPooling(nn.Module):
    """One score function (``score``) with one alignment over the encoder states, for one query kind.

    ``options``: the keys of :class:`~attnbench.config.schema.AttentionConfig` (the schema), each
    defaulting to the schema's value.
    ``hidden_size``: additive's hidden layer, local_p's predictor, and the size of learned queries
    for scores that do not need ``query_dim == key_dim`` (dot, scaled_dot and cosine do).
    ``penalty``: weight of the structured self-attention penalty (``query=learned`` only).
    ``use_scale``/``score_mode``: Keras options of the dot-product scores; ``max_positions``: the
    longest sequence ``location`` scores; ``window``: local half-width D; ``hard_estimator`` and
    ``temperature``: how ``hard`` trains.
    Output size: ``hops * D`` for learned queries, ``D`` otherwise.
    """

    def __init__(self, input_size: int, **options: Any) -> None:
        super().__init__()
        # the schema's default max_positions interpolates data.max_length, which only a composed config has
        o = AttentionConfig(**{"max_positions": None, **options})
        if o.score not in SCORES:
            raise ValueError(f"attention.score={o.score!r} is not available; available: {sorted(SCORES)}")
        check_query(o.query, o.hops)
        if o.penalty and o.query != "learned":
            raise ValueError(f"attention.penalty={o.penalty} needs attention.query=learned (it penalises the hops)")
        self.kind, self.hops, self.penalty = o.query, o.hops, o.penalty
        cls = SCORES[o.score]
        query_dim = input_size if cls.same_dims or o.query != "learned" else o.hidden_size
        self.query = learned_queries(o.query, o.hops, query_dim)  # first: the seeded initialisation stays put
        align = Alignment(o.alignment, query_dim, o.hidden_size, o.window, o.hard_estimator, o.temperature)
        self.attention = cls(query_dim=query_dim, key_dim=input_size, alignment=align, **score_options(o))
        self.output_size: int = (o.hops if o.query == "learned" else 1) * input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Pooled:
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
        return Pooled(vector, weights, penalty, log_prob)


class UniformAttention(nn.Module):
    """``attention.frozen=uniform`` (Wiegreffe & Pinter 2019, §3.1): the weights fixed to uniform over
    the valid tokens, whatever the attention preset; no parameters. ``vector``: the mean of the valid
    states [B, D]; ``weights``: [B, 1, T] (1/L at the L valid tokens, 0 at padding)."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.output_size = input_size

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Pooled:
        m = mask.to(enc.states.dtype)
        weights = (m / m.sum(-1, keepdim=True).clamp(min=1))[:, None, :]
        return Pooled((weights @ enc.states).squeeze(1), weights)


class MultiHeadAttentionPooling(nn.Module):
    """Scaled dot-product attention over ``heads`` heads (Vaswani et al. 2017), computed by
    ``torch.nn.functional.scaled_dot_product_attention``. ``options``: the keys of
    :class:`~attnbench.config.schema.MultiHeadConfig`, each defaulting to the schema's value.

    Queries, keys and values are projected to ``hidden_size`` (split into ``heads`` heads), the
    heads' contexts concatenated and projected again, as in ``nn.MultiheadAttention``. ``query``
    works as in :class:`AttentionPooling` (``self`` contexts are mean-pooled). ``need_weights``:
    also compute the weights (one extra QKᵀ; SDPA does not return them); ``average_attn_weights``:
    average them over heads ([B, hops, T]) or keep one row per head and hop ([B, heads * hops, T],
    head-major). ``dropout``: on the attention weights, in training.
    Output size: ``hops * hidden_size`` for learned queries, ``hidden_size`` otherwise.
    """

    def __init__(self, input_size: int, **options: Any) -> None:
        super().__init__()
        o = MultiHeadConfig(**options)
        check_query(o.query, o.hops)
        if o.heads < 1 or o.hidden_size % o.heads:
            raise ValueError(f"attention.heads={o.heads} must divide attention.hidden_size={o.hidden_size}")
        self.kind, self.heads, self.hops, self.dropout = o.query, o.heads, o.hops, o.dropout
        self.need_weights, self.average_attn_weights = o.need_weights, o.average_attn_weights
        self.query = learned_queries(o.query, o.hops, input_size)
        hidden_size = o.hidden_size
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(input_size, hidden_size) for _ in range(3))
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.output_size: int = (o.hops if o.query == "learned" else 1) * hidden_size

    def _split(self, x: Tensor) -> Tensor:  # [B, T, H] → [B, heads, T, H / heads]
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, enc: EncoderOutput, mask: Tensor) -> Pooled:
        q = self._split(self.q_proj(queries(self.kind, self.query, enc)))
        k, v = self._split(self.k_proj(enc.states)), self._split(self.v_proj(enc.states))
        has_key = mask.any(-1)  # [B]
        # SDPA gives NaN for a row without a valid key: let such rows see everything, then zero them
        attn_mask = (mask | ~has_key[:, None])[:, None, None, :]  # [B, 1, 1, Tk]
        context = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        # zero after the output projection too: an empty sequence pools to zeros (not out_proj's bias),
        # as every other aggregator's does
        context = self.out_proj(context.transpose(1, 2).flatten(2)) * has_key[:, None, None].to(context.dtype)
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
        return Pooled(vector, weights)


def build_aggregator(
    attention: dict, pooling: dict, input_size: int
) -> Pooling | AttentionPooling | MultiHeadAttentionPooling | UniformAttention:
    """``attention.name``: ``none`` → :class:`Pooling` from ``pooling``; ``attention`` →
    :class:`AttentionPooling`; ``multihead`` → :class:`MultiHeadAttentionPooling`; any of them with
    ``frozen=uniform`` → :class:`UniformAttention`."""
    attention = dict(attention)
    name, frozen = attention.pop("name"), attention.pop("frozen", None)
    if frozen not in (None, "uniform"):
        raise ValueError(f"attention.frozen={frozen!r}; use null (trained attention) or uniform")
    if frozen == "uniform" and name != "none":
        return UniformAttention(input_size)
    if name == "none":
        return Pooling(input_size, **pooling)
    if name == "attention":
        return AttentionPooling(input_size, **attention)
    if name == "multihead":
        return MultiHeadAttentionPooling(input_size, **attention)
    raise ValueError(f"attention.name={name!r} is unknown; use 'none', 'attention' or 'multihead'")
