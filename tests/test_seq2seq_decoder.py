"""The LSTM decoder: one step of each style against float64 references written from the papers'
equations, teacher forcing, masking of source padding, local-p centres, and bad settings."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from attnbench.models.attention import SCORES
from attnbench.models.decoder import LSTMDecoder, Memory
from attnbench.models.seq2seq import EncoderDecoder, token_nll

ALIGNMENTS = ("soft", "local_m", "local_p", "hard")


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, lstm: nn.LSTM) -> tuple[Tensor, Tensor]:
    """One LSTM step from the gate equations (PyTorch's gate order i, f, g, o)."""
    gates = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def softmax_valid(scores: Tensor, mask: Tensor) -> Tensor:
    e = torch.exp(scores - scores.max()) * mask
    return e / e.sum()


def memory(b: int = 2, s: int = 5, d: int = 6, lengths: tuple[int, ...] = (5, 3)) -> Memory:
    g = torch.Generator().manual_seed(0)
    mask = torch.arange(s)[None, :] < torch.tensor(lengths)[:, None]
    states = torch.randn(b, s, d, generator=g, dtype=torch.float64) * mask[..., None]
    return Memory(states, states, mask, torch.randn(b, d, generator=g, dtype=torch.float64))


def test_bahdanau_step_equals_the_papers_equations() -> None:
    torch.manual_seed(1)
    dec = (
        LSTMDecoder(
            9,
            6,
            {"name": "attention", "score": "additive", "hidden_size": 7},
            embedding_dim=4,
            hidden_size=5,
            style="bahdanau",
        )
        .double()
        .eval()
    )
    mem = memory()  # additive attention reads the states as keys unprojected
    prev = torch.tensor([4, 2])
    out = dec.step(prev, dec.init_state(mem), mem, 0)
    att, lin = dec.attention, nn.functional.linear
    for b in range(2):
        s0 = torch.tanh(lin(mem.summary[b], dec.bridge.weight, dec.bridge.bias))  # bridge from the summary
        e = torch.stack([att.v(torch.tanh(att.w_query(s0) + att.w_key(h))) for h in mem.states[b]]).squeeze(-1)
        a = softmax_valid(e, mem.mask[b])  # e_tj = vᵀ tanh(W s_{t−1} + U h_j), softmax over the source
        c_t = (a[:, None] * mem.states[b]).sum(0)
        y = dec.embedding.weight[prev[b]]
        s1, _ = lstm_cell(torch.cat([y, c_t]), s0, torch.zeros(5, dtype=torch.float64), dec.lstm)
        o = torch.tanh(lin(torch.cat([s1, c_t, y]), dec.combine.weight, dec.combine.bias))
        logits = lin(o, dec.output.weight, dec.output.bias)
        torch.testing.assert_close(out.weights[b, 0], a)
        torch.testing.assert_close(out.logits[b, 0], logits)


def test_luong_step_with_input_feeding_equals_the_papers_equations() -> None:
    torch.manual_seed(2)
    dec = (
        LSTMDecoder(
            9,
            6,
            {"name": "attention", "score": "general"},
            embedding_dim=4,
            hidden_size=5,
            style="luong",
            input_feeding=True,
            bridge=False,
        )
        .double()
        .eval()
    )
    mem = memory()
    mem = Memory(mem.states, dec.key_proj(mem.states), mem.mask, mem.summary)
    state = dec.init_state(mem)
    state.feed = torch.randn(2, 5, dtype=torch.float64)  # h̃_{t−1} of an earlier step
    prev = torch.tensor([1, 7])
    out = dec.step(prev, state, mem, 3)
    w_a = dec.attention.w.weight  # score(h_t, h_s) = h_tᵀ W_a h_s
    for b in range(2):
        zeros = torch.zeros(5, dtype=torch.float64)
        h_t, _ = lstm_cell(torch.cat([dec.embedding.weight[prev[b]], state.feed[b]]), zeros, zeros, dec.lstm)
        a = softmax_valid(torch.stack([h_t @ (w_a @ h) for h in mem.states[b]]), mem.mask[b])
        c_t = (a[:, None] * mem.states[b]).sum(0)
        h_tilde = torch.tanh(dec.combine.weight @ torch.cat([c_t, h_t]))  # h̃_t = tanh(W_c [c_t; h_t])
        torch.testing.assert_close(out.weights[b, 0], a)
        torch.testing.assert_close(out.state.feed[b], h_tilde)
        torch.testing.assert_close(out.logits[b, 0], dec.output(h_tilde))


def tiny_model(attention: dict, style: str = "luong", feed: bool = False, seed: int = 0) -> EncoderDecoder:
    torch.manual_seed(seed)
    decoder = {"hidden_size": 8, "style": style, "input_feeding": feed}
    return EncoderDecoder(11, 9, {"name": "bilstm", "hidden_size": 4}, decoder, attention, embedding_dim=6).eval()


def batch(lengths: tuple[int, ...] = (6, 4, 2), seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(max(lengths))[None, :] < lengths_t[:, None]
    return torch.randint(4, 11, (len(lengths), max(lengths)), generator=g) * mask, lengths_t, mask


def test_luong_whole_target_at_once_equals_step_by_step() -> None:
    model = tiny_model({"name": "attention", "score": "dot", "alignment": "local_m", "window": 1})
    src, lengths, mask = batch()
    target_in = torch.randint(4, 9, (3, 5))
    at_once = model(src, lengths, mask, target_in)
    mem, state, logits = model.encode(src, lengths, mask), None, []
    state = model.decoder.init_state(mem)
    for t in range(5):
        step = model.decoder.step(target_in[:, t], state, mem, t)
        logits.append(step.logits)
        state = step.state
    torch.testing.assert_close(at_once.logits, torch.cat(logits, 1))


def test_teacher_forced_loss_equals_a_hand_computation() -> None:
    model = tiny_model({"name": "attention", "score": "additive"}, style="bahdanau")
    src, lengths, mask = batch()
    target = torch.tensor([[5, 6, 3, 0], [7, 3, 0, 0], [4, 4, 8, 3]])  # ends in EOS (3), padded with 0
    target_in = torch.cat([torch.full((3, 1), 2), target[:, :-1]], 1)  # BOS (2) first
    total, count = token_nll(model(src, lengths, mask, target_in).logits, target)
    mem = model.encode(src, lengths, mask)
    with torch.no_grad():
        hand, n = _hand_nll(model, mem, target, target_in)
    assert count == n == 9
    assert float(total.detach()) == pytest.approx(hand, rel=1e-5)


def _hand_nll(model: EncoderDecoder, mem: Memory, target: Tensor, target_in: Tensor) -> tuple[float, int]:
    hand, n = 0.0, 0
    for b in range(3):  # one example at a time, one step at a time, -log p of each real target token
        state = model.decoder.init_state(mem.select(torch.tensor([b])))
        for t in range(int((target[b] > 0).sum())):
            step = model.decoder.step(target_in[b : b + 1, t], state, mem.select(torch.tensor([b])), t)
            hand -= float(torch.log_softmax(step.logits[0, 0], -1)[target[b, t]])
            n, state = n + 1, step.state
    return hand, n


@pytest.mark.parametrize("score", sorted(SCORES))
@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_source_padding_gets_zero_weight_for_every_score_and_alignment(score: str, alignment: str) -> None:
    spec = {
        "name": "attention",
        "score": score,
        "alignment": alignment,
        "window": 2,
        "hidden_size": 8,
        "max_positions": 8,
    }
    for style in ("bahdanau", "luong"):
        model = tiny_model(spec, style=style).train()  # training: hard samples, too
        src, lengths, mask = batch()
        out = model(src, lengths, mask, torch.randint(4, 9, (3, 7)))
        assert out.weights.shape == (3, 7, 6)
        assert torch.all(out.weights.masked_select(~mask[:, None, :].expand_as(out.weights)) == 0)
        assert torch.isfinite(out.logits).all()
        if alignment == "local_p":  # centres lie on valid source positions
            assert torch.all(out.centres >= 0) and torch.all(out.centres <= (lengths - 1)[:, None])


def test_multihead_reference_masks_padding() -> None:
    model = tiny_model({"name": "multihead", "heads": 2, "hidden_size": 8})
    src, lengths, mask = batch()
    out = model(src, lengths, mask, torch.randint(4, 9, (3, 4)))
    assert torch.all(out.weights.masked_select(~mask[:, None, :].expand_as(out.weights)) == 0)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(3, 4))


@pytest.mark.parametrize(
    ("decoder", "attention", "message"),
    [
        ({"style": "bahdanau", "input_feeding": True}, {"name": "attention"}, "input_feeding"),
        ({"style": "sideways"}, {"name": "attention"}, "decoder.style"),
        ({}, {"name": "attention", "hops": 2}, "attention.hops"),
        ({}, {"name": "attention", "frozen": "uniform"}, "attention.frozen"),
        ({}, {"name": "attention", "score": "additive", "use_scale": True}, "use_scale"),
        ({}, {"name": "attention", "score": "nope"}, "attention.score"),
        ({}, {"name": "transformer"}, "attention.name"),
    ],
)
def test_bad_settings_are_named(decoder: dict, attention: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncoderDecoder(11, 9, {"name": "bilstm", "hidden_size": 4}, decoder, attention, embedding_dim=6)


def test_tied_embeddings_share_one_matrix() -> None:
    model = EncoderDecoder(
        11,
        9,
        {"name": "conv1d", "filters": 8},
        {"hidden_size": 12, "tie_embeddings": True},
        {"name": "none"},
        embedding_dim=6,
    )
    assert model.decoder.output.weight is model.decoder.embedding.weight
    shared = EncoderDecoder(
        9,
        9,
        {"name": "conv1d", "filters": 8},
        {"hidden_size": 12, "tie_embeddings": True},
        {"name": "none"},
        embedding_dim=6,
        share_embeddings=True,
    )  # tie_embeddings with share_embeddings: one matrix for source, target and output
    assert shared.decoder.output.weight is shared.decoder.embedding.weight is shared.source_embedding.weight
    assert sum(p.numel() for p in shared.parameters() if p.shape == (9, 6)) == 54
    src, lengths, mask = batch()
    assert model(src, lengths, mask, torch.randint(4, 9, (3, 4))).logits.shape == (3, 4, 9)
