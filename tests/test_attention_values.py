"""Alignment values pinned against their formulas: local-p's window and Gaussian (Luong et al. 2015,
σ = D/2), the local windows' key positions under bf16 autocast, and what an empty sequence pools to."""

from __future__ import annotations

import math

import pytest
import torch

from attnbench.models.attention import Alignment
from attnbench.models.attention.alignment import masked_softmax
from attnbench.models.encoders import EncoderOutput
from attnbench.models.pooling import AttentionPooling, MultiHeadAttentionPooling


@pytest.mark.parametrize("window", [2, 3])
def test_local_p_equals_luongs_formula_with_sigma_half_the_window(window: int) -> None:
    # D = 3: σ = 1.5, where σ² ≠ σ³ and 2σ² ≠ 2/σ² (at D = 2, σ = 1 hides such slips)
    torch.manual_seed(0)
    tk, dq = 9, 4
    align = Alignment("local_p", query_dim=dq, hidden_size=3, window=window)
    scores, query = torch.randn(3, 3, tk), torch.randn(3, 3, dq)
    lengths = [9, 6, 1]
    mask = torch.arange(tk)[None, :] < torch.tensor(lengths)[:, None]
    out = align(scores, query, mask)
    w_p, v_p = align.predict[0].weight.detach(), align.predict[2].weight.detach()
    sigma = window / 2
    for b in range(3):
        for t in range(3):
            logit = float(v_p @ torch.tanh(w_p @ query[b, t]))
            p = (lengths[b] - 1) / (1 + math.exp(-logit))
            keys = [s for s in range(lengths[b]) if abs(s - p) <= window]
            z = sum(math.exp(float(scores[b, t, s])) for s in keys)
            expected = [
                math.exp(float(scores[b, t, s])) / z * math.exp(-((s - p) ** 2) / (2 * sigma**2)) if s in keys else 0.0
                for s in range(tk)
            ]
            assert out.centres is not None and abs(float(out.centres[b, t]) - p) < 1e-5
            torch.testing.assert_close(out.weights[b, t], torch.tensor(expected), atol=1e-6, rtol=1e-5)


def test_local_windows_land_on_the_right_keys_under_bf16_autocast() -> None:
    # bf16 holds integers exactly only to 256: query 301's window of D = 2 must be keys 299-303
    t = 400
    align = Alignment("local_m", window=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = torch.zeros(1, t, 8) @ torch.zeros(1, 8, t)  # bf16 scores, as a score function makes them
        assert scores.dtype == torch.bfloat16
        out = align(scores, torch.zeros(1, t, 8))
    picked = out.weights[0, 301].nonzero().squeeze(-1).tolist()
    assert picked == [299, 300, 301, 302, 303]
    assert out.weights.dtype == torch.bfloat16


def test_local_p_centres_under_bf16_autocast_are_float32() -> None:
    torch.manual_seed(0)
    t = 400
    align = Alignment("local_p", query_dim=4, hidden_size=3, window=2)
    query = torch.randn(1, 2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = align(torch.zeros(1, 2, t, dtype=torch.bfloat16), query)
    assert out.centres is not None and out.centres.dtype == torch.float32
    for row in range(2):
        p = float(out.centres[0, row])
        keys = out.weights[0, row].float().nonzero().squeeze(-1)
        assert len(keys) > 0 and (keys.float() - p).abs().max() <= 2


@pytest.mark.parametrize("query", ["learned", "last", "self"])
def test_an_empty_sequence_pools_to_zeros_in_every_aggregator(query: str) -> None:
    torch.manual_seed(0)
    states = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [False] * 5])
    enc = EncoderOutput(states, states[:, 0])
    hops = 2 if query == "learned" else 1
    aggregators = [
        AttentionPooling(8, score="general", query=query, hops=hops),
        MultiHeadAttentionPooling(8, query=query, hops=hops, hidden_size=8, heads=2),
    ]
    for agg in aggregators:
        vector = agg.eval()(enc, mask).vector
        assert (vector[1] == 0).all(), type(agg).__name__  # not the output projection's bias
        assert vector[0].abs().sum() > 0


def test_masked_softmax_without_a_mask_is_the_softmax_over_keys() -> None:
    scores = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(masked_softmax(scores, None), torch.softmax(scores, -1))
    aligned = Alignment("soft")(scores, torch.zeros(2, 3, 1))  # no mask: every key valid
    torch.testing.assert_close(aligned.weights, torch.softmax(scores, -1))


def test_straight_through_gumbel_uses_the_gumbel_softmax_formula() -> None:
    # forward: one-hot of argmax((s + g) / τ), g = −log(Exp(1)); backward: ∂ softmax((s + g) / τ)
    scores = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    align = Alignment("hard", hard_estimator="gumbel", temperature=0.5).train()
    torch.manual_seed(7)
    out = align(scores, torch.zeros(2, 3, 1))
    torch.manual_seed(7)
    gumbel = -torch.empty_like(scores).exponential_().log()
    soft = torch.softmax((scores + gumbel) / 0.5, -1)
    torch.testing.assert_close(out.weights.detach(), torch.nn.functional.one_hot(soft.argmax(-1), 5).float())
    upstream = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(2))
    (got,) = torch.autograd.grad((out.weights * upstream).sum(), scores)
    (expected,) = torch.autograd.grad((soft * upstream).sum(), scores)
    torch.testing.assert_close(got, expected)


def test_reinforce_log_prob_is_the_log_softmax_of_the_sampled_key() -> None:
    scores = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    torch.manual_seed(0)
    out = Alignment("hard", hard_estimator="reinforce").train()(scores, torch.zeros(2, 3, 1), mask)
    picked = out.weights.argmax(-1)
    expected = torch.log_softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), -1).gather(-1, picked[..., None])
    assert out.log_prob is not None
    torch.testing.assert_close(out.log_prob, expected.squeeze(-1))
    assert (picked[1] < 2).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "sideways"}, "attention.alignment='sideways'"),
        ({"kind": "hard", "hard_estimator": "magic"}, "attention.hard_estimator='magic'"),
        ({"kind": "local_m", "window": -1}, "attention.window=-1"),
        ({"kind": "local_p", "query_dim": 0}, "local_p needs the query dimension"),
    ],
)
def test_bad_alignments_are_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Alignment(**options)
    assert Alignment("local_p", query_dim=1).predict[0].in_features == 1  # one query feature is enough


def test_local_p_with_a_zero_window_has_no_nan() -> None:
    align = Alignment("local_p", query_dim=4, hidden_size=3, window=0)
    mask = torch.tensor([[True] * 6, [True] + [False] * 5])  # one key: the centre is exactly 0
    out = align(torch.randn(2, 3, 6), torch.randn(2, 3, 4), mask)
    assert torch.isfinite(out.weights).all()
    assert (out.weights[1, :, 0] == 1).all()  # D = 0: the softmax over the centre key, no Gaussian
