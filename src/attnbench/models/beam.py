"""Greedy and beam-search decoding, batched over examples and beams (one decoder call per step).

Both stop when every hypothesis has emitted ``eos_id`` or after ``max_length`` steps. A finished
hypothesis continues with padding at zero cost, so it keeps its score. Beam search keeps ``beam_size``
hypotheses per example as rows ``example * beam_size + k`` of one batch and picks, at the end, the
hypothesis with the best score / lp, lp = ((5 + length) / 6)^α (Wu et al. 2016; α =
``length_penalty``, 0 = raw log-probability); length counts the EOS. With one beam the search takes
the arg-max at every step: exactly greedy decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from attnbench.models.decoder import LSTMDecoder, Memory

PAD_ID = 0


@dataclass
class Decoded:
    """``tokens``: [B, T] without BOS/EOS, padded with 0; ``lengths``: [B] tokens before EOS;
    ``scores``: [B] sum of log-probabilities (EOS included); ``weights``: [B, T, S] attention of the
    emitted tokens (greedy with attention only, else None)."""

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    weights: Tensor | None = None


def _trim(tokens: Tensor, eos_id: int) -> tuple[Tensor, Tensor]:
    """Tokens [B, T] → (tokens up to the first EOS, padded with 0 [B, T]; their count [B])."""
    is_eos = tokens == eos_id
    t = tokens.shape[1]
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full_like(tokens[:, 0], t))
    keep = torch.arange(t, device=tokens.device)[None, :] < first[:, None]
    return tokens.masked_fill(~keep, PAD_ID), first


def greedy(decoder: LSTMDecoder, memory: Memory, bos_id: int, eos_id: int, max_length: int) -> Decoded:
    """The arg-max token at every step, for all examples of ``memory`` [B, S, D] at once."""
    with torch.no_grad():
        return _greedy(decoder, memory, bos_id, eos_id, max_length)


# The searches' bodies are plain functions (no decorator) so that mutation testing reaches them:
# mutmut leaves decorated functions alone.
def _greedy(decoder: LSTMDecoder, memory: Memory, bos_id: int, eos_id: int, max_length: int) -> Decoded:
    b = memory.mask.shape[0]
    state = decoder.init_state(memory)
    prev = torch.full((b,), bos_id, dtype=torch.long, device=memory.mask.device)
    done = torch.zeros(b, dtype=torch.bool, device=prev.device)
    score = torch.zeros(b, device=prev.device)
    tokens, weights = [], []
    for t in range(max_length):
        step = decoder.step(prev, state, memory, t)
        log_p = torch.log_softmax(step.logits[:, 0].float(), -1)  # [B, V]
        token = log_p.argmax(-1).masked_fill(done, PAD_ID)
        score += log_p.gather(1, token[:, None]).squeeze(1).masked_fill(done, 0.0)
        tokens.append(token)
        if step.weights is not None:
            weights.append(step.weights)
        done = done | (token == eos_id)
        prev, state = token, step.state
        if bool(done.all()):
            break
    out, lengths = _trim(torch.stack(tokens, 1), eos_id)
    att = torch.cat(weights, 1) * (out != PAD_ID)[..., None] if weights else None
    return Decoded(out, lengths, score, att)


def length_normaliser(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT's lp = ((5 + length) / 6)^α for ``lengths`` [...] (1 when α = 0)."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


def beam_search(
    decoder: LSTMDecoder,
    memory: Memory,
    bos_id: int,
    eos_id: int,
    max_length: int,
    beam_size: int,
    length_penalty: float = 0.0,
) -> Decoded:
    """The best of ``beam_size`` hypotheses per example; all examples × beams decode as one batch."""
    with torch.no_grad():
        return _beam_search(decoder, memory, bos_id, eos_id, max_length, beam_size, length_penalty)


def _beam_search(
    decoder: LSTMDecoder,
    memory: Memory,
    bos_id: int,
    eos_id: int,
    max_length: int,
    beam_size: int,
    length_penalty: float,
) -> Decoded:
    if beam_size < 1:
        raise ValueError(f"decode.beam_size={beam_size} must be >= 1")
    b, k, device = memory.mask.shape[0], beam_size, memory.mask.device
    memory = memory.select(torch.arange(b, device=device).repeat_interleave(k))
    state = decoder.init_state(memory)
    scores = torch.zeros(b, k, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep one
    finished = torch.zeros(b, k, dtype=torch.bool, device=device)
    seqs = torch.zeros(b, k, 0, dtype=torch.long, device=device)
    prev = torch.full((b * k,), bos_id, dtype=torch.long, device=device)
    base = (torch.arange(b, device=device) * k)[:, None]  # [B, 1]
    for t in range(max_length):
        step = decoder.step(prev, state, memory, t)
        log_p = torch.log_softmax(step.logits[:, 0].float(), -1).view(b, k, -1)  # [B, K, V]
        vocab = log_p.shape[-1]
        pad_only = torch.full((vocab,), float("-inf"), device=device)
        pad_only[PAD_ID] = 0.0
        log_p = torch.where(finished[..., None], pad_only, log_p)
        top, index = (scores[..., None] + log_p).view(b, k * vocab).topk(k, -1)  # [B, K]
        beam, token = torch.div(index, vocab, rounding_mode="floor"), index % vocab
        state = step.state.select((base + beam).view(-1))
        seqs = torch.cat([seqs.gather(1, beam[..., None].expand(-1, -1, t)), token[..., None]], -1)
        finished = finished.gather(1, beam) | (token == eos_id)
        scores, prev = top, token.view(-1)
        if bool(finished.all()):
            break
    tokens, lengths = _trim(seqs.view(b * k, -1), eos_id)
    lengths = lengths.view(b, k)
    emitted = lengths + finished.long()  # the EOS counts towards the length penalty
    best = (scores / length_normaliser(emitted, length_penalty)).argmax(-1)  # [B]
    rows = base.squeeze(1) + best
    return Decoded(tokens[rows], lengths.view(-1)[rows], scores.view(-1)[rows])
