"""``flush_denormal``: subnormal gradients flushed to zero, the trained weights unchanged."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf
from torch import nn

from attnbench.models.encoders import BiLSTMEncoder
from attnbench.runtime.numerics import set_numerics

TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32, 1.18e-38


def subnormal_count(t: torch.Tensor) -> int:
    return int(((t != 0) & (t.abs() < TINY)).sum())


def train(flush: bool, steps: int = 3) -> tuple[list[torch.Tensor], int, dict]:
    """A BiLSTM reading 300 tokens, classified by its forward direction's last state (the state that must
    carry a needle across the sequence): a few AdamW steps; returns the weights, the subnormal entries of
    the input gradients (the gradient fading back from the last token), and the settings."""
    numerics = set_numerics(OmegaConf.create({"flush_denormal": flush, "torch_threads": None}))
    torch.manual_seed(0)
    emb, enc, head = nn.Embedding(50, 8), BiLSTMEncoder(8, hidden_size=16), nn.Linear(16, 5)
    params = [*emb.parameters(), *enc.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-2)
    g = torch.Generator().manual_seed(1)
    subnormals = 0
    for _ in range(steps):
        ids, labels = torch.randint(0, 50, (4, 300), generator=g), torch.randint(0, 5, (4,), generator=g)
        lengths = torch.tensor([300, 280, 250, 300])
        mask = torch.arange(300)[None] < lengths[:, None]
        x = emb(ids)
        x.retain_grad()
        loss = nn.functional.cross_entropy(head(enc(x, lengths, mask).final[:, :16]), labels)
        opt.zero_grad()
        loss.backward()
        subnormals += subnormal_count(x.grad)
        opt.step()
    return [p.detach().clone() for p in params], subnormals, numerics


def test_flushing_subnormals_leaves_the_trained_weights_bit_identical() -> None:
    try:
        kept, kept_subnormals, kept_settings = train(flush=False)
        flushed, flushed_subnormals, flushed_settings = train(flush=True)
    finally:
        set_numerics(OmegaConf.create({"flush_denormal": True}))
    assert kept_settings["flush_denormal"] is False
    if not flushed_settings["flush_denormal"]:  # a CPU without flush-to-zero: nothing to compare
        return
    # the gradient fading back through 300 steps does reach the subnormal range: the case the setting is for
    assert kept_subnormals > 100
    assert flushed_subnormals == 0
    assert all(torch.equal(a, b) for a, b in zip(kept, flushed, strict=True))


def test_set_numerics_sets_threads_and_flushing() -> None:
    before = torch.get_num_threads()
    try:
        got = set_numerics(OmegaConf.create({"torch_threads": 1, "flush_denormal": True}))
        assert got == {"torch_threads": 1, "flush_denormal": True}
        assert torch.tensor(TINY / 4) * 1.0 == 0.0  # a subnormal result is flushed to zero
        got = set_numerics(OmegaConf.create({"torch_threads": None, "flush_denormal": False}))
        assert got == {"torch_threads": 1, "flush_denormal": False}  # threads unset: left as they are
        assert torch.tensor(TINY / 4) * 1.0 != 0.0
    finally:
        torch.set_num_threads(before)
        set_numerics(OmegaConf.create({"flush_denormal": True}))
