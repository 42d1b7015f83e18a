"""Greedy and beam-search decoding: beam 1 is greedy, batching over examples and padding change
nothing, and the length penalty ranks finished hypotheses as GNMT's formula says."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import Tensor

from attnbench.models.beam import beam_search, greedy, length_normaliser
from attnbench.models.seq2seq import EncoderDecoder, token_nll

BOS, EOS = 2, 3
TRAIN_STEPS = 60


VARIANTS = [
    ({"name": "none"}, "bahdanau", False),
    ({"name": "attention", "score": "additive"}, "bahdanau", False),
    ({"name": "attention", "score": "general"}, "luong", False),
    ({"name": "attention", "score": "dot", "alignment": "local_p", "window": 2}, "luong", True),
    ({"name": "attention", "score": "location", "alignment": "local_m", "max_positions": 9}, "luong", True),
    ({"name": "multihead", "heads": 2, "hidden_size": 8}, "luong", False),
]


@functools.cache
def model_for(attention_items: tuple, style: str, feed: bool, seed: int = 0) -> EncoderDecoder:
    """A tiny model trained for a few steps to reverse short sequences, so that decoded lengths vary
    with the source (an untrained model ends every hypothesis at once, or never)."""
    torch.manual_seed(seed)
    decoder = {"hidden_size": 8, "style": style, "input_feeding": feed}
    model = EncoderDecoder(
        12, 12, {"name": "bilstm", "hidden_size": 4}, decoder, dict(attention_items), embedding_dim=6
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for step in range(TRAIN_STEPS):
        src, lengths, mask = source(
            tuple(torch.randint(1, 7, (16,), generator=torch.Generator().manual_seed(step)).tolist()), seed=step
        )
        target = torch.cat([torch.zeros_like(src), torch.zeros_like(src[:, :1])], 1)
        for i, n in enumerate(lengths.tolist()):
            target[i, :n], target[i, n] = src[i, :n].flip(0), EOS
        target_in = torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], 1)
        total, count = token_nll(model(src, lengths, mask, target_in).logits, target)
        opt.zero_grad()
        (total / count).backward()
        opt.step()
    return model.eval()


def source(lengths: tuple[int, ...], seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(max(lengths))[None, :] < lengths_t[:, None]
    return torch.randint(4, 12, (len(lengths), max(lengths)), generator=g) * mask, lengths_t, mask


@pytest.mark.parametrize(("attention", "style", "feed"), VARIANTS)
def test_beam_of_one_is_greedy(attention: dict, style: str, feed: bool) -> None:
    model = model_for(tuple(attention.items()), style, feed)
    mem = model.encode(*source((7, 5, 3, 1)))
    g = greedy(model.decoder, mem, BOS, EOS, max_length=12)
    b = beam_search(model.decoder, mem, BOS, EOS, max_length=12, beam_size=1, length_penalty=0.7)
    assert torch.equal(g.tokens, b.tokens)
    assert torch.equal(g.lengths, b.lengths)
    torch.testing.assert_close(g.scores, b.scores)


@pytest.mark.parametrize(("attention", "style", "feed"), VARIANTS)
def test_decoding_is_padding_and_batch_invariant(attention: dict, style: str, feed: bool) -> None:
    model = model_for(tuple(attention.items()), style, feed)
    src, lengths, mask = source((8, 3, 6), seed=2)
    mem = model.encode(src, lengths, mask)
    together = greedy(model.decoder, mem, BOS, EOS, max_length=10)
    beams = beam_search(model.decoder, mem, BOS, EOS, max_length=10, beam_size=3)
    for i in range(3):
        n = int(lengths[i])
        alone_mem = model.encode(src[i : i + 1, :n], lengths[i : i + 1], mask[i : i + 1, :n])
        alone = greedy(model.decoder, alone_mem, BOS, EOS, max_length=10)
        k = int(alone.lengths[0])
        assert int(together.lengths[i]) == k
        assert torch.equal(together.tokens[i, :k], alone.tokens[0, :k])
        if alone.weights is not None:
            torch.testing.assert_close(together.weights[i, :k, :n], alone.weights[0, :k], atol=1e-5, rtol=1e-4)
            assert torch.all(together.weights[i, :, n:] == 0)
        alone_beam = beam_search(model.decoder, alone_mem, BOS, EOS, max_length=10, beam_size=3)
        k = int(alone_beam.lengths[0])
        assert torch.equal(beams.tokens[i, :k], alone_beam.tokens[0, :k])


def test_wider_beams_find_hypotheses_at_least_as_likely_on_average() -> None:
    model = model_for((("name", "attention"), ("score", "additive")), "bahdanau", False)
    mem = model.encode(*source((6, 6, 5, 4, 4, 3), seed=4))
    one = beam_search(model.decoder, mem, BOS, EOS, max_length=8, beam_size=1)
    five = beam_search(model.decoder, mem, BOS, EOS, max_length=8, beam_size=5)
    assert five.scores.mean() >= one.scores.mean() - 1e-6


def test_length_normaliser_is_gnmt() -> None:
    lengths = torch.tensor([1, 6])
    torch.testing.assert_close(length_normaliser(lengths, 0.0), torch.ones(2))
    torch.testing.assert_close(length_normaliser(lengths, 1.0), torch.tensor([1.0, 11 / 6]))


def test_bad_beam_size_is_named() -> None:
    model = model_for((("name", "none"),), "luong", False)
    with pytest.raises(ValueError, match=r"decode\.beam_size"):
        beam_search(model.decoder, model.encode(*source((3,))), BOS, EOS, max_length=4, beam_size=0)
