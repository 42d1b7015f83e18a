"""Tanh scores (additive, Keras concat) computed in query blocks with the tanh recomputed in backward:
the same values and gradients as the direct [B, Tq, Tk, H] form, for every alignment, with padding;
``chunk_size=auto`` keeps a block within the memory budget."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from attnbench.models.attention import chunked
from attnbench.models.attention.chunked import check_chunk_size, chunk_rows, tanh_scores
from attnbench.models.encoders import EncoderOutput
from attnbench.models.pooling import AttentionPooling

from .helpers import compose_config

B, T, D, H = 3, 7, 6, 5
LENGTHS = torch.tensor([7, 3, 0])  # a full row, padding, and a sequence without any valid position
CHUNKS = (1, 2, 3, 7, 64)  # 2 and 3 do not divide T = 7; 64 > T is one block
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-6}


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal within TOLERANCE of the tensor's largest magnitude (at least 1). Not elementwise: a gradient
    entry is a sum over up to B·Tq·Tk terms, which the two forms add in different orders, so in float32 a
    small entry made of large terms that cancel differs by a few 1e-7 of those terms, not of itself."""
    scale = expected.abs().max().clamp(min=1).item()
    torch.testing.assert_close(actual, expected, rtol=0, atol=TOLERANCE[expected.dtype] * scale)


def scores_and_grads(chunk: int | str, dtype: torch.dtype) -> list[torch.Tensor]:
    """Scores [B, T, T + 1] of random a, c, v and their gradients under a random upstream gradient."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(B, T, H, generator=g, dtype=dtype, requires_grad=True)
    c = torch.randn(B, T + 1, H, generator=g, dtype=dtype, requires_grad=True)  # Tk ≠ Tq
    v = torch.randn(H, generator=g, dtype=dtype, requires_grad=True)
    scores = tanh_scores(a, c, v, chunk)
    upstream = torch.randn(scores.shape, generator=g, dtype=dtype)
    return [scores.detach(), *torch.autograd.grad(scores, (a, c, v), upstream)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk", [*CHUNKS, "auto"])
def test_tanh_scores_match_the_direct_form(chunk: int | str, dtype: torch.dtype) -> None:
    for actual, expected in zip(scores_and_grads(chunk, dtype), scores_and_grads("direct", dtype), strict=True):
        close(actual, expected)


def pooling(score: str, alignment: str, chunk: int | str, dtype: torch.dtype) -> AttentionPooling:
    torch.manual_seed(0)  # the same parameters for every chunk size
    options = {"score": "dot", "score_mode": "concat", "use_scale": True} if score == "concat" else {"score": score}
    module = AttentionPooling(
        D, alignment=alignment, query="self", hidden_size=H, window=2, chunk_size=chunk, **options
    )
    with torch.no_grad():  # scale and concat weight away from 1, so their gradients are not trivial
        for name, p in module.named_parameters():
            if p.dim() == 0:
                p.fill_(0.7 if "scale" in name else 1.3)
    return module.to(dtype)


def run(module: AttentionPooling, dtype: torch.dtype, train: bool) -> list[torch.Tensor]:
    """Pooled vector and weights of random states with padding, then the gradients w.r.t. the states
    and every parameter (training mode only)."""
    g = torch.Generator().manual_seed(1)
    mask = torch.arange(T)[None, :] < LENGTHS[:, None]
    states = (torch.randn(B, T, D, generator=g, dtype=dtype) * mask[..., None]).requires_grad_(train)
    module.train(train)
    torch.manual_seed(2)  # the Gumbel noise of alignment=hard
    out = module(EncoderOutput(states, states[:, -1]), mask)
    results = [out.vector, out.weights]
    assert all(torch.isfinite(r).all() for r in results)
    assert not out.vector[2].any() and not out.weights[2].any()  # no valid position: zeros, not NaN
    if train:
        loss = (out.vector * torch.randn(out.vector.shape, generator=g, dtype=dtype)).sum() + out.weights.square().sum()
        results += torch.autograd.grad(loss, [states, *module.parameters()], allow_unused=True)
    return [r.detach() if r is not None else None for r in results]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("alignment", ["soft", "local_m", "local_p", "hard"])
@pytest.mark.parametrize("score", ["additive", "concat"])
def test_attention_matches_the_direct_form(score: str, alignment: str, dtype: torch.dtype) -> None:
    for train in (True, False):
        expected = run(pooling(score, alignment, "direct", dtype), dtype, train)
        assert all(g is None or torch.isfinite(g).all() for g in expected)
        for chunk in (2, 3, "auto"):
            actual = run(pooling(score, alignment, chunk, dtype), dtype, train)
            for a, e in zip(actual, expected, strict=True):
                if e is None:  # a parameter this alignment does not use (hard: none)
                    assert a is None
                else:
                    close(a, e)


def test_auto_fits_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = chunked.BUDGET_BYTES["cpu"]
    for batch, tk, hidden in ((32, 400, 128), (128, 400, 128), (32, 800, 256), (1, 10, 4)):
        row = batch * tk * hidden * 4
        rows = chunk_rows("auto", batch, tk, hidden, 4, "cpu")
        assert rows * row <= budget or rows == 1  # one query over the whole batch is the smallest block
        assert (rows + 1) * row > budget  # and no smaller than the budget allows
    assert chunk_rows("auto", 32, 400, 128, 4, "cuda") == chunked.BUDGET_BYTES["cuda"] // (32 * 400 * 128 * 4)
    # A budget of two query rows: auto computes in blocks of two, with the direct form's results.
    monkeypatch.setitem(chunked.BUDGET_BYTES, "cpu", 2 * B * (T + 1) * H * 8)
    assert chunk_rows("auto", B, T + 1, H, 8) == 2
    for actual, expected in zip(
        scores_and_grads("auto", torch.float64), scores_and_grads("direct", torch.float64), strict=True
    ):
        close(actual, expected)


def test_blocks_never_hold_the_whole_hidden_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The largest tensor made while chunked is one block, forward and backward."""
    sizes: list[int] = []
    original = torch.Tensor.tanh_
    monkeypatch.setattr(torch.Tensor, "tanh_", lambda x: sizes.append(x.numel()) or original(x))
    scores_and_grads(2, torch.float64)
    assert sizes and max(sizes) == B * 2 * (T + 1) * H  # 2 queries × all keys, never T × (T + 1)


@pytest.mark.parametrize("bad", [0, -3, "0", "big", True, 1.5])
def test_bad_chunk_size_fails_early(bad: object) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        check_chunk_size(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        AttentionPooling(D, score="additive", query="self", chunk_size=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["auto", "direct", "5"])
def test_chunk_size_from_config(value: str) -> None:
    overrides = ["attention=additive", "attention.query=self", f"attention.chunk_size={value}"]
    cfg = compose_config(overrides, output_dir="unused", tiny=True)
    module = instantiate(cfg.model, vocab_size=50, num_classes=3).model.aggregator
    assert module.attention.chunk_size == (5 if value == "5" else value)
