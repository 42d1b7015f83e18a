"""Models: padding never changes an example's logits; masking, pooling and attention behave at the edges."""

from __future__ import annotations

import pytest
import torch

from attnbench.models import TextClassifier, count_parameters
from attnbench.models.attention import AdditiveAttention, masked_softmax
from attnbench.models.encoders import BiLSTMEncoder, Conv1DEncoder, EncoderOutput, reverse_within_length
from attnbench.models.pooling import AttentionPooling, Pooling
from attnbench.tasks import ClassificationTask

VOCAB, CLASSES = 50, 5

ENCODERS = {
    "bilstm-reverse": {"name": "bilstm", "hidden_size": 8, "num_layers": 2, "implementation": "reverse"},
    "bilstm-packed": {"name": "bilstm", "hidden_size": 8, "num_layers": 2, "implementation": "packed"},
    "bilstm-auto": {"name": "bilstm", "hidden_size": 8, "num_layers": 1, "implementation": "auto"},
    "conv1d-k3": {"name": "conv1d", "filters": 8, "kernel_size": 3, "num_layers": 2, "activation": "relu"},
    "conv1d-k4": {"name": "conv1d", "filters": 8, "kernel_size": 4, "num_layers": 2, "activation": "tanh"},
}
ADDITIVE = {"name": "attention", "score": "additive", "alignment": "soft", "query": "learned", "hidden_size": 8}
AGGREGATORS = {
    "none-last": ({"name": "none"}, {"mode": "last"}),
    "none-mean": ({"name": "none"}, {"mode": "mean"}),
    "none-max": ({"name": "none"}, {"mode": "max"}),
    "additive": ({**ADDITIVE, "hops": 1}, {"mode": "last"}),
    "additive-2hops": ({**ADDITIVE, "hops": 2}, {"mode": "last"}),
}
LENGTHS = (13, 1, 20, 7, 2)
ORDER_FREE = {"none-last", "none-max"}  # no sum over positions


def build(encoder: str, aggregator: str, seed: int = 0) -> TextClassifier:
    torch.manual_seed(seed)
    attention, pooling = AGGREGATORS[aggregator]
    return TextClassifier(VOCAB, CLASSES, ENCODERS[encoder], attention, pooling, embedding_dim=8).eval()


def sequences(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(2, VOCAB, (n,), generator=g) for n in LENGTHS]


def padded(seqs: list[torch.Tensor], width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``ids`` [B, width] (0 = <pad>), ``lengths`` [B], ``mask`` [B, width]."""
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    lengths = torch.tensor([len(s) for s in seqs])
    return ids, lengths, torch.arange(width)[None, :] < lengths[:, None]


enc_params = pytest.mark.parametrize("encoder", list(ENCODERS))
agg_params = pytest.mark.parametrize("aggregator", list(AGGREGATORS))


@enc_params
@agg_params
@pytest.mark.parametrize("length", [1, 13, 20])
def test_padding_does_not_change_the_logits(encoder: str, aggregator: str, length: int) -> None:
    model = build(encoder, aggregator)
    seq = sequences()[LENGTHS.index(length)]
    with torch.no_grad():
        short, long = padded([seq], 20), padded([seq], 200)
        logits_20, logits_200 = model(*short), model(*long)
        states_20 = model.encoder(model.embedding(short[0]), short[1], short[2]).states
        states_200 = model.encoder(model.embedding(long[0]), long[1], long[2]).states
        agg_20, agg_200 = model.encode(*short), model.encode(*long)
    # The encoder states at valid positions and the attention weights are bitwise identical.
    assert torch.equal(states_20[:, :length], states_200[:, :length])
    assert (states_200[:, length:] == 0).all()
    if agg_20.weights is not None:
        assert torch.equal(agg_20.weights[..., :length], agg_200.weights[..., :length])
        assert (agg_200.weights[..., length:] == 0).all()
    if not known_inexact(encoder, aggregator):
        assert torch.equal(logits_20, logits_200)
    else:  # see test_conv1d_sums_are_bitwise_padding_invariant
        torch.testing.assert_close(logits_20, logits_200, rtol=0, atol=1e-6)


def known_inexact(encoder: str, aggregator: str) -> bool:
    return encoder.startswith("conv1d") and aggregator not in ORDER_FREE


@pytest.mark.parametrize("aggregator", ["none-mean", "additive"])
def test_conv1d_sums_are_bitwise_padding_invariant(aggregator: str) -> None:
    model = build("conv1d-k3", aggregator)
    with torch.no_grad():
        differ = [
            not torch.equal(model(*padded([s], 20)), model(*padded([s], 200)))
            for seed in range(3)
            for s in sequences(seed)
        ]
    assert not any(differ)


@enc_params
@agg_params
def test_batch_of_mixed_lengths_matches_each_example_alone(encoder: str, aggregator: str) -> None:
    model = build(encoder, aggregator)
    seqs = sequences(1)
    with torch.no_grad():
        batched = model(*padded(seqs, max(LENGTHS)))
        alone = torch.cat([model(*padded([s], len(s))) for s in seqs])
    # Different batch shapes run different GEMM blockings: equal to float precision, not bitwise.
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_bilstm_packed_and_reverse_agree(num_layers: int) -> None:
    torch.manual_seed(0)
    packed = BiLSTMEncoder(6, hidden_size=5, num_layers=num_layers, implementation="packed").eval()
    reverse = BiLSTMEncoder(6, hidden_size=5, num_layers=num_layers, implementation="reverse").eval()
    reverse.load_state_dict(packed.state_dict())
    x = torch.randn(4, 9, 6)
    lengths = torch.tensor([9, 1, 5, 3])
    mask = torch.arange(9)[None, :] < lengths[:, None]
    with torch.no_grad():
        a, b = packed(x, lengths, mask), reverse(x, lengths, mask)
    torch.testing.assert_close(a.states, b.states, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.final, b.final, rtol=0, atol=1e-6)
    assert a.states.shape == (4, 9, 10) and a.final.shape == (4, 10)


def test_bilstm_final_state_is_forward_last_and_backward_first() -> None:
    torch.manual_seed(0)
    enc = BiLSTMEncoder(3, hidden_size=4, implementation="reverse").eval()
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 2])
    mask = torch.arange(6)[None, :] < lengths[:, None]
    with torch.no_grad():
        out = enc(x, lengths, mask)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(out.final[b, :4], out.states[b, n - 1, :4])
        assert torch.equal(out.final[b, 4:], out.states[b, 0, 4:])


def test_bilstm_reverse_matches_a_plain_lstm_on_unpadded_input() -> None:
    """With no padding at all, the encoder is exactly ``nn.LSTM(bidirectional=True)``."""
    torch.manual_seed(0)
    enc = BiLSTMEncoder(3, hidden_size=4, num_layers=2, implementation="reverse").eval()
    x = torch.randn(2, 7, 3)
    lengths = torch.tensor([7, 7])
    with torch.no_grad():
        expected, _ = enc.lstm(x)
        got = enc(x, lengths, torch.ones(2, 7, dtype=torch.bool)).states
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5])
def test_conv1d_matches_keras_same_padding(kernel_size: int) -> None:
    """Unpadded input: 'same' pads (k-1)//2 on the left and the rest on the right, like Keras."""
    torch.manual_seed(0)
    enc = Conv1DEncoder(3, filters=4, kernel_size=kernel_size, activation="linear").eval()
    x = torch.randn(1, 6, 3)
    with torch.no_grad():
        got = enc(x, torch.tensor([6]), torch.ones(1, 6, dtype=torch.bool)).states
        left = (kernel_size - 1) // 2
        ref = torch.nn.functional.pad(x.transpose(1, 2), (left, kernel_size - 1 - left))
        expected = torch.nn.functional.conv1d(ref, enc.convs[0].weight, enc.convs[0].bias).transpose(1, 2)
    assert got.shape == (1, 6, 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_reverse_within_length() -> None:
    x = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8], [9, 0, 0, 0, 0]])
    got = reverse_within_length(x, torch.tensor([3, 5, 1]))
    assert got.tolist() == [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4], [9, 0, 0, 0, 0]]
    feats = torch.arange(2 * 4 * 3).view(2, 4, 3)
    lengths = torch.tensor([2, 4])
    assert torch.equal(reverse_within_length(reverse_within_length(feats, lengths), lengths), feats)


def test_masked_softmax() -> None:
    scores = torch.randn(3, 2, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True], [False, False, False, False]])
    w = masked_softmax(scores, mask)
    assert torch.isfinite(w).all()
    assert (w[0, :, 2:] == 0).all()
    torch.testing.assert_close(w[:2].sum(-1), torch.ones(2, 2))
    assert (w[2] == 0).all()  # a fully masked row gives zeros, never NaN
    w.sum().backward()
    assert torch.isfinite(scores.grad).all() and (scores.grad[2] == 0).all()
    torch.testing.assert_close(masked_softmax(scores, None), torch.softmax(scores, -1))


def test_additive_attention_shapes_and_masking() -> None:
    torch.manual_seed(0)
    att = AdditiveAttention(query_dim=3, key_dim=5, hidden_size=7)
    query, keys = torch.randn(2, 4, 3), torch.randn(2, 6, 5)
    mask = torch.arange(6)[None, :] < torch.tensor([[6], [2]])
    out = att(query, keys, mask=mask)
    assert out.context.shape == (2, 4, 5) and out.weights.shape == (2, 4, 6)
    assert (out.weights[1, :, 2:] == 0).all()
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(2, 4))
    torch.testing.assert_close(out.context, out.weights @ keys)
    values = torch.randn(2, 6, 9)
    assert att(query, keys, values, mask).context.shape == (2, 4, 9)


def states_with_garbage_padding() -> tuple[EncoderOutput, torch.Tensor]:
    states = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [1e6, 1e6]], [[-5.0, 6.0], [-1e6, 1e6], [1e6, -1e6]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    return EncoderOutput(states, final=torch.zeros(2, 2)), mask


def test_pooling_ignores_padding() -> None:
    enc, mask = states_with_garbage_padding()
    assert Pooling(2, "mean")(enc, mask).vector.tolist() == [[2.0, 1.0], [-5.0, 6.0]]
    assert Pooling(2, "max")(enc, mask).vector.tolist() == [[3.0, 4.0], [-5.0, 6.0]]
    assert Pooling(2, "last")(enc, mask).vector is enc.final
    empty = torch.zeros_like(mask)
    assert Pooling(2, "max")(enc, empty).vector.eq(0).all()
    assert Pooling(2, "mean")(enc, empty).vector.eq(0).all()


def test_attention_pooling_ignores_padding() -> None:
    enc, mask = states_with_garbage_padding()
    torch.manual_seed(0)
    agg = AttentionPooling(2, hidden_size=4, hops=3)
    out = agg(enc, mask)
    assert out.vector.shape == (2, 6) and out.weights.shape == (2, 3, 3)
    torch.testing.assert_close(out.vector[1], enc.states[1, 0].repeat(3))  # one valid position: all weight on it
    assert (out.weights[0, :, 2] == 0).all()
    assert agg.output_size == 6


@pytest.mark.parametrize(
    ("encoder", "attention", "pooling", "message"),
    [
        ({"name": "mamba"}, {"name": "none"}, {"mode": "last"}, "encoder.name"),
        ({"name": "bilstm", "implementation": "cudnn"}, {"name": "none"}, {"mode": "last"}, "implementation"),
        ({"name": "conv1d", "activation": "swish"}, {"name": "none"}, {"mode": "last"}, "activation"),
        ({"name": "bilstm"}, {"name": "none"}, {"mode": "sum"}, "pooling.mode"),
        ({"name": "bilstm"}, {"name": "self"}, {"mode": "last"}, "attention.name"),
        ({"name": "bilstm"}, {**ADDITIVE, "score": "banana"}, {"mode": "last"}, "attention.score"),
        ({"name": "bilstm"}, {**ADDITIVE, "alignment": "sharp"}, {"mode": "last"}, "attention.alignment"),
        ({"name": "bilstm"}, {**ADDITIVE, "query": "first"}, {"mode": "last"}, "attention.query"),
        (
            {"name": "bilstm"},
            {**ADDITIVE, "alignment": "hard", "hard_estimator": "vimco"},
            {"mode": "last"},
            "attention.hard_estimator",
        ),
        ({"name": "bilstm"}, {**ADDITIVE, "query": "last", "hops": 2}, {"mode": "last"}, "attention.hops"),
        ({"name": "bilstm"}, {**ADDITIVE, "use_scale": True}, {"mode": "last"}, "attention.use_scale"),
        (
            {"name": "bilstm"},
            {**ADDITIVE, "score": "general", "score_mode": "concat"},
            {"mode": "last"},
            "attention.score_mode",
        ),
        ({"name": "bilstm"}, {"name": "multihead", "heads": 3, "hidden_size": 8}, {"mode": "last"}, "attention.heads"),
    ],
)
def test_unknown_options_name_the_key(encoder: dict, attention: dict, pooling: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextClassifier(VOCAB, CLASSES, encoder, attention, pooling, embedding_dim=4)


def test_hyperparameters_are_plain_values() -> None:
    """Checkpoints load with ``weights_only=True`` only if hparams hold no OmegaConf objects."""
    from omegaconf import OmegaConf

    model = ClassificationTask(
        VOCAB,
        CLASSES,
        encoder=OmegaConf.create(ENCODERS["conv1d-k3"]),
        attention=OmegaConf.create(AGGREGATORS["additive"][0]),
        pooling=OmegaConf.create({"mode": "last"}),
        embedding_dim=4,
        optimizer=OmegaConf.create({"lr": 0.1, "betas": [0.9, 0.99]}),
    )

    def plain(x: object) -> bool:
        if isinstance(x, dict):
            return all(plain(v) for v in x.values())
        if isinstance(x, list | tuple):
            return all(plain(v) for v in x)
        return isinstance(x, str | int | float | bool | type(None))

    assert plain(dict(model.hparams)), dict(model.hparams)
    assert count_parameters(model) > 0
