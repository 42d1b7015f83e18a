"""The LSTM decoder of the sequence-to-sequence model: one step at a time, or a whole target at once.

Notation (B examples, S source positions, T target steps, H decoder size, D encoder state size,
E target embedding size, V target vocabulary). The encoder gives states h_s [B, S, D] and a summary
[B, D] (its final state); the attention modules of :mod:`attnbench.models.attention` read them.

* ``style=bahdanau`` (RNNsearch, Bahdanau et al. 2015): the query is the previous top-layer state
  s_{t−1}; c_t = attention(s_{t−1}, h); s_t = LSTM([E y_{t−1}; c_t], s_{t−1});
  o_t = tanh(W_o [s_t; c_t; E y_{t−1}]) (the paper's deep output, with tanh for its maxout).
* ``style=luong`` (Luong et al. 2015): h_t = LSTM(E y_{t−1} [; h̃_{t−1} with input feeding], h_{t−1});
  c_t = attention(h_t, h); o_t = h̃_t = tanh(W_c [c_t; h_t]). Without input feeding the LSTM runs over
  the whole target at once in training, then attention over all steps in one call.
* ``attention.name=none`` (RNNencdec, Cho et al. 2014): no attention; the summary c is fed at every
  step in place of c_t (the Bahdanau equations with c_t = c), whichever the style.

logits_t = W_y dropout(o_t), with W_y the target embedding when ``tie_embeddings`` (then o_t is first
projected to E if H ≠ E). ``bridge``: s_0 = tanh(W_b · summary) per layer (the encoder-final-state
bridge; Cho's initialisation); otherwise zeros. ``local_m`` aligns target step t to source position t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.config.schema import AttentionConfig, MultiHeadConfig
from attnbench.config.seq2seq import DecoderConfig, Seq2SeqModelConfig
from attnbench.models.attention import SCORES, Alignment, Attention, AttentionOutput
from attnbench.models.attention.multihead import MultiHeadCrossAttention
from attnbench.models.encoders import EncoderOutput
from attnbench.models.pooling import score_options

STYLES = ("bahdanau", "luong")
ATTENTION_NAMES = ("none", "attention", "multihead")
# settings of the shared attention presets that only mean something for classification pooling
POOLING_ONLY = {"hops": 1, "penalty": 0.0, "frozen": None}


@dataclass
class Memory:
    """The source as the decoder reads it: ``states`` [B, S, D] (values; zero at padding), ``keys``
    [B, S, Dk] (states, projected to H for scores that need equal sizes), ``mask`` [B, S] (True at
    valid positions), ``summary`` [B, D] (the encoder's final state)."""

    states: Tensor
    keys: Tensor
    mask: Tensor
    summary: Tensor

    def select(self, rows: Tensor) -> Memory:
        """The memory of rows ``rows`` [N] (e.g. each example repeated once per beam)."""
        return Memory(self.states[rows], self.keys[rows], self.mask[rows], self.summary[rows])


@dataclass
class DecoderState:
    """``h``, ``c``: [layers, B, H]; ``feed``: [B, H], the previous attentional state h̃_{t−1} for
    Luong's input feeding (None otherwise)."""

    h: Tensor
    c: Tensor
    feed: Tensor | None = None

    def select(self, rows: Tensor) -> DecoderState:
        """The state of rows ``rows`` [N] (beam reordering)."""
        return DecoderState(self.h[:, rows], self.c[:, rows], None if self.feed is None else self.feed[rows])


@dataclass
class DecoderOutput:
    """``logits``: [B, T, V]; ``weights``: [B, T, S] attention weights (None without attention);
    ``log_prob``: [B, T] log-probability of the positions hard attention sampled for REINFORCE (None
    otherwise); ``centres``: [B, T] local window centres (None for other alignments); ``state``: the
    decoder state after the last step."""

    logits: Tensor
    weights: Tensor | None
    log_prob: Tensor | None
    centres: Tensor | None
    state: DecoderState


def _check_attention(spec: dict[str, Any], style: str) -> dict[str, Any]:
    spec = {"name": "none", **spec}
    if spec["name"] not in ATTENTION_NAMES:
        raise ValueError(f"attention.name={spec['name']!r} is unknown; use one of {list(ATTENTION_NAMES)}")
    if style not in STYLES:
        raise ValueError(f"decoder.style={style!r} is unknown; use one of {list(STYLES)}")
    for key, neutral in POOLING_ONLY.items():
        if spec.get(key, neutral) != neutral:
            raise ValueError(
                f"attention.{key}={spec[key]!r} applies to classification pooling; a decoder has one "
                "query per step (its state) and learns its attention. Fix: leave it unset for seq2seq"
            )
    spec.pop("query", None)  # the decoder state is the query, whatever the preset says
    return spec


def build_decoder_attention(spec: dict[str, Any], query_dim: int, key_dim: int) -> nn.Module | None:
    """The decoder's attention from the ``attention`` config (``name`` none | attention | multihead),
    each setting defaulting to the schema's value."""
    if spec["name"] == "none":
        return None
    if spec["name"] == "multihead":
        m = MultiHeadConfig(**spec)
        return MultiHeadCrossAttention(query_dim, key_dim, m.heads, m.hidden_size, m.dropout)
    # the schema's max_positions interpolates data.max_length, which only a composed config has
    o = AttentionConfig(**{"max_positions": None, **spec})
    if o.score not in SCORES:
        raise ValueError(f"attention.score={o.score!r} is not available; available: {sorted(SCORES)}")
    align = Alignment(o.alignment, query_dim, o.hidden_size, o.window, o.hard_estimator, o.temperature)
    return SCORES[o.score](query_dim=query_dim, key_dim=key_dim, alignment=align, **score_options(o))


class LSTMDecoder(nn.Module):
    """Target-side LSTM with optional attention over the encoder states (module docstring).

    ``memory_size``: D, the encoder's output size; ``attention``: the attention config dict;
    ``options``: the keys of :class:`~attnbench.config.seq2seq.DecoderConfig` (``style``,
    ``hidden_size``, ``num_layers``, ``dropout``, ``input_feeding``, ``bridge``, ``tie_embeddings``).
    """

    def __init__(
        self,
        vocab_size: int,
        memory_size: int,
        attention: dict[str, Any],
        embedding_dim: int = Seq2SeqModelConfig.embedding_dim,
        **options: Any,
    ) -> None:
        super().__init__()
        o = DecoderConfig(**options)  # every setting defaults to the schema's
        hidden_size, num_layers, dropout, style = o.hidden_size, o.num_layers, o.dropout, o.style
        input_feeding, bridge, tie_embeddings = o.input_feeding, o.bridge, o.tie_embeddings
        spec = _check_attention(attention, style)
        self.attends = spec["name"] != "none"
        self.luong = style == "luong" and self.attends
        self.input_feeding = input_feeding and self.luong
        if input_feeding and not self.luong:
            raise ValueError("decoder.input_feeding=true needs decoder.style=luong and an attention")
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        key_dim = memory_size
        needs_same = spec["name"] == "attention" and _same_dims(spec.get("score", AttentionConfig.score))
        self.key_proj: nn.Module = nn.Identity()
        if needs_same and memory_size != hidden_size:  # keys projected once per source, not per step
            self.key_proj, key_dim = nn.Linear(memory_size, hidden_size, bias=False), hidden_size
        self.attention = build_decoder_attention(spec, hidden_size, key_dim)
        extra = hidden_size if self.input_feeding else 0 if self.luong else memory_size
        self.lstm = nn.LSTM(
            embedding_dim + extra, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.bridge = nn.Linear(memory_size, num_layers * hidden_size) if bridge else None
        out_in = memory_size + hidden_size + (0 if self.luong else embedding_dim)
        self.combine = nn.Linear(out_in, hidden_size, bias=not self.luong)  # Luong's W_c has no bias
        self.to_embedding = (
            nn.Linear(hidden_size, embedding_dim, bias=False)
            if tie_embeddings and hidden_size != embedding_dim
            else nn.Identity()
        )
        self.output = nn.Linear(embedding_dim if tie_embeddings else hidden_size, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embedding.weight

    def memory(self, enc: EncoderOutput, mask: Tensor) -> Memory:
        """The encoder output (states [B, S, D], final [B, D]) and source ``mask`` [B, S] as a Memory."""
        return Memory(enc.states, self.key_proj(enc.states), mask, enc.final)

    def init_state(self, memory: Memory) -> DecoderState:
        """s_0: the bridge from the encoder summary, or zeros; h̃_0 = 0 for input feeding."""
        b = memory.summary.shape[0]
        zeros = memory.summary.new_zeros(self.num_layers, b, self.hidden_size)
        h = zeros
        if self.bridge is not None:
            h = torch.tanh(self.bridge(memory.summary)).view(b, self.num_layers, self.hidden_size).transpose(0, 1)
        feed = memory.summary.new_zeros(b, self.hidden_size) if self.input_feeding else None
        return DecoderState(h.contiguous(), zeros, feed)

    def _attend(self, query: Tensor, memory: Memory, first_step: int) -> AttentionOutput:
        """Attention of ``query`` [B, Tq, H] (target steps first_step, first_step + 1, ...) over the source."""
        assert self.attention is not None, "_attend is only called when the decoder attends"
        b, tq = query.shape[:2]
        positions = torch.arange(first_step, first_step + tq, device=query.device).expand(b, tq)
        return self.attention(query, memory.keys, memory.states, memory.mask, positions)

    def _logits(self, out: Tensor) -> Tensor:
        return self.output(self.to_embedding(self.dropout(out)))

    def step(self, prev: Tensor, state: DecoderState, memory: Memory, t: int) -> DecoderOutput:
        """One step: previous tokens ``prev`` [B] at target step ``t`` → logits [B, 1, V] and the next state."""
        emb = self.dropout(self.embedding(prev))[:, None, :]  # [B, 1, E]
        att = None
        if self.luong:
            inp = emb
            if self.input_feeding:
                assert state.feed is not None, "input feeding keeps h̃_{t−1} in the state (init_state)"
                inp = torch.cat([emb, state.feed[:, None, :]], -1)
            top, (h, c) = self.lstm(inp, (state.h, state.c))  # h_t: [B, 1, H]
            att = self._attend(top, memory, t)
            out = torch.tanh(self.combine(torch.cat([att.context, top], -1)))  # h̃_t
            new = DecoderState(h, c, out[:, 0] if self.input_feeding else None)
        else:
            if self.attends:
                att = self._attend(state.h[-1][:, None, :], memory, t)  # query s_{t−1}
                context = att.context
            else:
                context = memory.summary[:, None, :]
            top, (h, c) = self.lstm(torch.cat([emb, context], -1), (state.h, state.c))
            out = torch.tanh(self.combine(torch.cat([top, context, emb], -1)))
            new = DecoderState(h, c)
        return _output(self._logits(out), att, new)

    def forward(self, inputs: Tensor, memory: Memory) -> DecoderOutput:
        """Teacher forcing: target inputs ``inputs`` [B, T] (BOS, y_1, ..., y_{T−1}) → logits [B, T, V]."""
        state = self.init_state(memory)
        if self.luong and not self.input_feeding:  # every h_t is known before any attention: one call each
            top, (h, c) = self.lstm(self.dropout(self.embedding(inputs)), (state.h, state.c))
            att = self._attend(top, memory, 0)
            out = torch.tanh(self.combine(torch.cat([att.context, top], -1)))
            return _output(self._logits(out), att, DecoderState(h, c))
        steps = []
        for t in range(inputs.shape[1]):
            step = self.step(inputs[:, t], state, memory, t)
            steps.append(step)
            state = step.state
        return DecoderOutput(
            torch.cat([s.logits for s in steps], 1),
            weights=_cat([s.weights for s in steps]),
            log_prob=_cat([s.log_prob for s in steps]),
            centres=_cat([s.centres for s in steps]),
            state=state,
        )


def _same_dims(score: str) -> bool:
    cls: type[Attention] | None = SCORES.get(score)
    return bool(cls is not None and cls.same_dims)


def _output(logits: Tensor, att: AttentionOutput | None, state: DecoderState) -> DecoderOutput:
    if att is None:
        return DecoderOutput(logits, None, None, None, state)
    return DecoderOutput(logits, att.weights, att.log_prob, att.centres, state)


def _cat(parts: list[Tensor | None]) -> Tensor | None:
    if parts[0] is None:
        return None
    tensors = [p for p in parts if p is not None]
    assert len(tensors) == len(parts), "a step output is present at every step or at none"
    return torch.cat(tensors, 1)
