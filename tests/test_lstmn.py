"""LSTMN (Cheng et al. 2016): the hand-written backward pass against autograd through a plain reading
of the paper's equations, exact padding invariance, the intra-attention weights, and the readers'
access to them."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from attnbench.models import TextClassifier
from attnbench.models.encoders import LSTMNEncoder, capture_encoder_weights
from attnbench.models.lstmn import LSTMNDirection

from .test_models import CLASSES, LENGTHS, VOCAB, padded, sequences


def reference(d: LSTMNDirection, x: Tensor) -> tuple[Tensor, Tensor]:
    """The paper's equations step by step, batch-major, autograd doing the backward pass."""
    b, steps, _ = x.shape
    hidden = d.gates_h.shape[1]
    hs_prev, hs_list, cs_list, weights = x.new_zeros(b, hidden), [], [], x.new_zeros(b, steps, steps)
    gx, qx = d.gates_x(x), d.score_x(x)
    for t in range(steps):
        if t == 0:
            h_sum, c_sum = x.new_zeros(b, hidden), x.new_zeros(b, hidden)
        else:
            tape_h, tape_c = torch.stack(hs_list, 1), torch.stack(cs_list, 1)  # [B, t, H]
            scores = torch.tanh(tape_h @ d.score_tape.t() + (qx[:, t] + hs_prev @ d.score_summary.t())[:, None]) @ d.v
            s = torch.softmax(scores, -1)
            weights = weights.index_put((torch.arange(b)[:, None], torch.tensor(t), torch.arange(t)[None]), s)
            h_sum, c_sum = (s[..., None] * tape_h).sum(1), (s[..., None] * tape_c).sum(1)
        i, f, o, g = (gx[:, t] + h_sum @ d.gates_h.t()).chunk(4, 1)
        c = torch.sigmoid(f) * c_sum + torch.sigmoid(i) * torch.tanh(g)
        hs_list.append(torch.sigmoid(o) * torch.tanh(c))
        cs_list.append(c)
        hs_prev = h_sum
    return torch.stack(hs_list, 1), weights


def test_backward_pass_matches_autograd_through_the_equations() -> None:
    torch.manual_seed(0)
    d = LSTMNDirection(3, 4, 5).double()
    x = torch.randn(2, 6, 3, dtype=torch.double, requires_grad=True)
    upstream = torch.randn(2, 6, 4, dtype=torch.double)
    ours, ours_w = d(x)
    theirs, theirs_w = reference(d, x)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours_w, theirs_w, rtol=0, atol=1e-12)
    params = [x, *d.parameters()]
    g_ours = torch.autograd.grad((ours * upstream).sum(), params)
    g_theirs = torch.autograd.grad((theirs * upstream).sum(), params)
    for name, a, b in zip(["x", *dict(d.named_parameters())], g_ours, g_theirs, strict=True):
        assert b.abs().max() > 0, name
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=name)


def test_gradcheck() -> None:
    torch.manual_seed(1)
    d = LSTMNDirection(2, 3, 2).double()
    x = torch.randn(2, 4, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: d(inp)[0], (x,))


def encoder_model(aggregator: str, **encoder: object) -> TextClassifier:
    torch.manual_seed(0)
    attention = {"name": "attention", "hidden_size": 8} if aggregator == "additive" else {"name": "none"}
    spec = {"name": "lstmn", "hidden_size": 8, **encoder}
    return TextClassifier(VOCAB, CLASSES, spec, attention, {"mode": "last"}, embedding_dim=8).eval()


@pytest.mark.parametrize("aggregator", ["last", "additive"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("length", [1, 13, 20])
def test_padding_never_changes_outputs_or_weights(aggregator: str, bidirectional: bool, length: int) -> None:
    model = encoder_model(aggregator, num_layers=2, bidirectional=bidirectional)
    seq = sequences()[LENGTHS.index(length)]
    with torch.no_grad():
        outs = [
            model.encoder(model.embedding(ids), lengths, mask)
            for ids, lengths, mask in (padded([seq], w) for w in (20, 200))
        ]
        logits = [model(*padded([seq], w)) for w in (20, 200)]
    short, long = outs
    assert torch.equal(short.states[:, :length], long.states[:, :length])
    assert torch.equal(short.final, long.final)
    assert torch.equal(short.weights[..., :length, :length], long.weights[..., :length, :length])
    assert (long.states[:, length:] == 0).all()
    assert (long.weights[..., length:, :] == 0).all() and (long.weights[..., :, length:] == 0).all()
    assert torch.equal(logits[0], logits[1])


def test_weights_are_lower_triangular_distributions_per_layer_and_direction() -> None:
    model = encoder_model("last", num_layers=2)
    ids, lengths, mask = padded(sequences(), max(LENGTHS))
    with torch.no_grad():
        out = model.encoder(model.embedding(ids), lengths, mask)
    assert out.weights is not None and out.weights.shape == (len(LENGTHS), 4, max(LENGTHS), max(LENGTHS))
    assert (out.weights.triu() == 0).all()  # row t reads positions < t only: diagonal and above zero
    sums = out.weights.sum(-1)  # [B, R, T]
    for b, n in enumerate(LENGTHS):
        assert (sums[b, :, 0] == 0).all()  # the first step has an empty tape
        torch.testing.assert_close(sums[b, :, 1:n], torch.ones(4, n - 1))
        assert (sums[b, :, n:] == 0).all()


def test_backward_direction_reads_each_sequence_reversed_within_its_length() -> None:
    torch.manual_seed(0)
    enc = LSTMNEncoder(8, hidden_size=4).eval()
    x, lengths = torch.randn(1, 5, 8), torch.tensor([5])
    with torch.no_grad():
        out = enc(x, lengths, torch.ones(1, 5, dtype=torch.bool))
        bwd, bwd_w = enc.cells[1](x.flip(1))
    torch.testing.assert_close(out.states[..., 4:], bwd.flip(1), rtol=0, atol=0)
    torch.testing.assert_close(out.weights[:, 1], bwd_w, rtol=0, atol=0)
    torch.testing.assert_close(out.final[:, 4:], bwd[:, -1], rtol=0, atol=0)


def test_capture_reads_the_weights_of_a_classifier_run_and_detaches() -> None:
    model = encoder_model("additive", bidirectional=False)
    ids, lengths, mask = padded(sequences(), max(LENGTHS))
    with capture_encoder_weights(model) as captured:
        model(ids, lengths, mask)
    assert len(captured) == 1 and captured[0].directions == 1
    assert captured[0].weights.shape == (len(LENGTHS), 1, max(LENGTHS), max(LENGTHS))
    assert not captured[0].weights.requires_grad
    assert not model.encoder._forward_hooks  # the hook is gone after the block
    with capture_encoder_weights(model) as again:
        pass
    assert again == []


def test_the_recurrence_runs_in_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    enc = LSTMNEncoder(8, hidden_size=4)
    x, lengths = torch.randn(2, 5, 8), torch.tensor([5, 3])
    mask = torch.arange(5)[None] < lengths[:, None]
    plain = enc(x, lengths, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = enc(x, lengths, mask)
    assert cast.states.dtype == torch.float32 and cast.weights is not None
    # only the input projections ran in bf16: the states stay close to the float32 ones
    torch.testing.assert_close(cast.states, plain.states, rtol=0, atol=0.05)
    cast.states.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())
