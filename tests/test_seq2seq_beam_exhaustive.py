"""A beam wide enough to keep every hypothesis returns exhaustive search's best under GNMT's length
penalty (score / ((5 + length) / 6)^α, the EOS counted), for α = 0 and α ≠ 0; greedy's attention
weights cover the emitted tokens only."""

from __future__ import annotations

import itertools

import pytest
import torch

from attnbench.models.beam import beam_search, greedy
from attnbench.models.seq2seq import EncoderDecoder

from .test_seq2seq_decoding import BOS, EOS, model_for, source

MAX_LENGTH = 3


def all_hypotheses(vocab: int) -> list[list[int]]:
    """Every output of at most MAX_LENGTH steps: tokens then EOS, or MAX_LENGTH tokens without EOS."""
    words = [v for v in range(vocab) if v != EOS]
    out = [[*seq, EOS] for n in range(MAX_LENGTH) for seq in itertools.product(words, repeat=n)]
    return out + [list(seq) for seq in itertools.product(words, repeat=MAX_LENGTH)]


def exhaustive_best(model: EncoderDecoder, src: tuple, alpha: float) -> tuple[list[int], float]:
    """The hypothesis with the best Σ log p / lp, scored by teacher forcing, and its Σ log p."""
    hyps = all_hypotheses(model.decoder.output.out_features)
    target = torch.zeros(len(hyps), MAX_LENGTH, dtype=torch.long)
    for i, h in enumerate(hyps):
        target[i, : len(h)] = torch.tensor(h)
    lengths = torch.tensor([len(h) for h in hyps])
    target_in = torch.cat([torch.full((len(hyps), 1), BOS), target[:, :-1]], 1)
    s, n, m = src
    with torch.no_grad():
        logits = model(s.expand(len(hyps), -1), n.expand(len(hyps)), m.expand(len(hyps), -1), target_in).logits
    log_p = torch.log_softmax(logits.float(), -1).gather(-1, target[..., None]).squeeze(-1)
    valid = torch.arange(MAX_LENGTH)[None, :] < lengths[:, None]
    total = (log_p * valid).sum(1)
    best = int((total / ((5.0 + lengths.float()) / 6.0) ** alpha).argmax())
    return [t for t in hyps[best] if t != EOS], float(total[best])


def untrained() -> EncoderDecoder:
    torch.manual_seed(1)
    return EncoderDecoder(6, 6, {"name": "bilstm", "hidden_size": 4}, {"hidden_size": 8}, {"name": "none"}).eval()


@pytest.mark.parametrize("trained", [True, False], ids=["trained", "untrained"])
def test_an_exhaustive_beam_finds_the_best_hypothesis_under_the_length_penalty(trained: bool) -> None:
    # trained: the reversal model of test_seq2seq_decoding (12 tokens); untrained: 6 tokens, flat outputs
    model = model_for((("name", "attention"), ("score", "additive")), "bahdanau", False) if trained else untrained()
    src = source((2,), seed=5)
    if not trained:
        src = (src[0].clamp(max=5), src[1], src[2])
    picks = set()
    for alpha in (0.0, 0.6, 2.0, 6.0):
        expected, score = exhaustive_best(model, src, alpha)
        memory = model.encode(*src)  # a beam of 1,500 keeps all 1,464 hypotheses of the trained model's vocabulary
        decoded = beam_search(model.decoder, memory, BOS, EOS, MAX_LENGTH, beam_size=1500, length_penalty=alpha)
        got = decoded.tokens[0, : int(decoded.lengths[0])].tolist()
        assert got == expected, alpha
        assert (decoded.tokens[0, int(decoded.lengths[0]) :] == 0).all()  # no EOS in the tokens, padding after
        assert float(decoded.scores[0]) == pytest.approx(score, abs=1e-4)
        picks.add(tuple(expected))
    assert len(picks) > 1  # the penalty changes the answer here, so an inverted one would fail


def test_greedy_returns_the_attention_of_the_emitted_tokens_only() -> None:
    model = model_for((("name", "attention"), ("score", "additive")), "bahdanau", False)
    src = source((5, 3, 2), seed=6)
    decoded = greedy(model.decoder, model.encode(*src), BOS, EOS, max_length=8)
    assert decoded.weights is not None and decoded.weights.shape[:2] == decoded.tokens.shape
    for i, n in enumerate(decoded.lengths.tolist()):
        torch.testing.assert_close(decoded.weights[i, :n].sum(-1), torch.ones(n))  # a distribution per token
        assert (decoded.weights[i, n:] == 0).all()  # nothing after the EOS
        assert (decoded.weights[i, :, int(src[1][i]) :] == 0).all()  # nor on source padding
