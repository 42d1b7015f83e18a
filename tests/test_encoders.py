"""The GRU and Transformer encoders, and every new encoder (GRU, LSTMN, Transformer) with every attention
preset, in seq2seq, and in the heatmap callback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate

from attnbench.config.validate import validate
from attnbench.models import TextClassifier
from attnbench.models.encoders import BiGRUEncoder, TransformerEncoder
from attnbench.reporting.heatmaps import best_heatmaps
from attnbench.reporting.records import collect
from attnbench.reporting.report import write_report
from attnbench.runtime.callbacks import AttentionHeatmaps
from attnbench.train import run

from .helpers import CONF, compose_config
from .test_attention import fast_dev_run, tiny_datamodule  # noqa: F401  (a module-scoped fixture)
from .test_models import CLASSES, LENGTHS, VOCAB, padded, sequences
from .test_seq2seq_train import TINY_S2S

NEW_ENCODERS = ["gru", "lstmn", "transformer"]
PRESETS = sorted(p.stem for p in (CONF / "attention").glob("*.yaml"))


@pytest.mark.parametrize("implementation", ["reverse", "packed"])
@pytest.mark.parametrize("length", [1, 13, 20])
def test_gru_padding_is_exact(implementation: str, length: int) -> None:
    torch.manual_seed(0)
    spec = {"name": "gru", "hidden_size": 8, "num_layers": 2, "implementation": implementation}
    model = TextClassifier(VOCAB, CLASSES, spec, {"name": "none"}, {"mode": "last"}, embedding_dim=8).eval()
    seq = sequences()[LENGTHS.index(length)]
    with torch.no_grad():
        short, long = (
            model.encoder(model.embedding(p[0]), p[1], p[2]) for p in (padded([seq], 20), padded([seq], 200))
        )
        logits = [model(*padded([seq], w)) for w in (20, 200)]
    assert torch.equal(short.states[:, :length], long.states[:, :length]) and (long.states[:, length:] == 0).all()
    assert torch.equal(logits[0], logits[1])


def test_gru_ways_agree_and_match_a_plain_gru() -> None:
    torch.manual_seed(0)
    reverse = BiGRUEncoder(8, hidden_size=4, num_layers=2, implementation="reverse").eval()
    packed = BiGRUEncoder(8, hidden_size=4, num_layers=2, implementation="packed").eval()
    packed.load_state_dict(reverse.state_dict())
    ids, lengths, mask = padded(sequences(), max(LENGTHS))
    x = torch.randn(*ids.shape, 8)
    with torch.no_grad():
        a, b = reverse(x, lengths, mask), packed(x, lengths, mask)
        full = torch.ones(1, 6, dtype=torch.bool)
        plain, _ = reverse.gru(x[:1, :6])
        alone = reverse(x[:1, :6], torch.tensor([6]), full)
    torch.testing.assert_close(a.states, b.states, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.final, b.final, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone.states, plain, rtol=0, atol=1e-6)
    assert next(iter(reverse.state_dict())) == "gru.weight_ih_l0"


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_transformer_ignores_padding_and_pools_the_valid_states(positions: str) -> None:
    torch.manual_seed(0)
    enc = TransformerEncoder(8, hidden_size=16, num_heads=4, positions=positions, max_positions=200).eval()
    assert len(enc.layers.layers) == 2 and enc.layers.layers[0].norm_first
    seq_x = torch.randn(1, 13, 8)
    with torch.no_grad():
        outs = []
        for width in (13, 200):
            x = torch.cat([seq_x, torch.randn(1, width - 13, 8)], 1)  # padding of any content
            outs.append(enc(x, torch.tensor([13]), torch.arange(width)[None] < 13))
    torch.testing.assert_close(outs[0].states, outs[1].states[:, :13], rtol=0, atol=1e-5)
    assert (outs[1].states[:, 13:] == 0).all()
    torch.testing.assert_close(outs[0].final, outs[0].states.mean(1), rtol=0, atol=1e-6)


def test_transformer_learned_positions_refuse_a_longer_batch() -> None:
    enc = TransformerEncoder(8, hidden_size=8, num_heads=2, positions="learned", max_positions=4)
    with pytest.raises(ValueError, match=r"encoder\.max_positions"):
        enc(torch.randn(1, 5, 8), torch.tensor([5]), torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("encoder", NEW_ENCODERS)
def test_every_attention_preset_trains_on_every_new_encoder(encoder: str, preset: str, tmp_path: Path) -> None:
    cfg = compose_config([f"encoder={encoder}", f"attention={preset}"], output_dir=tmp_path, tiny=True)
    validate(cfg)
    model = instantiate(cfg.model, vocab_size=VOCAB, num_classes=CLASSES)
    ids, lengths, mask = padded(sequences(), max(LENGTHS))
    loss = torch.nn.functional.cross_entropy(model(ids, lengths, mask), torch.arange(len(LENGTHS)) % CLASSES)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.model.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("encoder", NEW_ENCODERS)
def test_seq2seq_trains_with_every_new_encoder(encoder: str, make_cfg: Any) -> None:
    extra = ["encoder.num_heads=2"] if encoder == "transformer" else []
    record = run(make_cfg(*TINY_S2S, f"encoder={encoder}", *extra, "attention=additive", tiny=False))
    assert record["status"] == "completed", record.get("error")
    assert record["config"]["encoder"]["name"] == encoder and 0.0 <= record["metrics"]["test/acc"] <= 1.0


def test_lstmn_run_draws_its_memory_per_layer_and_direction(tiny_datamodule, tmp_path: Path) -> None:  # noqa: F811
    cfg = compose_config(["encoder=lstmn", "attention=none"], output_dir=tmp_path, tiny=True)
    callback = AttentionHeatmaps(num_examples=2, intra_max_tokens=12)
    fast_dev_run(cfg, tiny_datamodule, tmp_path, [callback])
    pngs = sorted((tmp_path / "attention_heatmaps").glob("*.png"))
    assert [p.name.split("_")[1] for p in pngs] == ["intra0.png", "intra1.png"] * 2 and pngs == sorted(callback.paths)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000 for p in pngs)


def test_report_draws_the_best_lstmn_runs_memory_from_its_checkpoint(make_cfg: Any, tmp_path: Path) -> None:
    bilstm = run(make_cfg("encoder=bilstm", "attention=additive", "debug=limit", "logger=none", name="bilstm"))
    lstmn = run(
        make_cfg("encoder=lstmn", "encoder.num_layers=1", "attention=none", "debug=limit", "logger=none", name="lstmn")
    )
    assert lstmn["status"] == "completed" and Path(lstmn["checkpoint"]).is_file()
    records = collect([tmp_path / "bilstm", tmp_path / "lstmn"])
    heat_dir, best = best_heatmaps(records, "test/acc", tmp_path / "out", encoder="lstmn", dirname="lstmn_heatmaps")
    assert best is not None and best["config"]["encoder"]["name"] == "lstmn" and bilstm["status"] == "completed"
    assert heat_dir == tmp_path / "out" / "lstmn_heatmaps"
    # drawn afresh from the checkpoint: 3 examples × (forward, backward), no text shading (attention=none)
    assert sorted(p.name.split("_")[1] for p in heat_dir.glob("*.png")) == ["intra0.png"] * 3 + ["intra1.png"] * 3
    # ... and a report publishes them: every picture its page shows is in the results folder
    out = tmp_path / "report"
    write_report([tmp_path / "bilstm", tmp_path / "lstmn"], out, command="test", log_wandb=False)
    assert len(list((out / "lstmn_heatmaps").glob("*_intra*.png"))) == 6
    shown = re.findall(r'<img src="([^"]+)"', (out / "index.html").read_text())
    assert any(s.startswith("lstmn_heatmaps/") for s in shown) and all((out / s).is_file() for s in shown), shown
