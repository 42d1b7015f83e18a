"""Seq2seq end to end: a tiny run through ``train.run`` (metrics by length, alignment heatmaps, the run
record), evaluation of its checkpoint, and a tiny study through ``attnbench-study`` whose report has the
length columns and a heatmap."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from attnbench.train import run

from .helpers import subprocess_env

TINY_S2S = [
    "task=seq2seq",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "data.generate.length=[3,5]",
    "data.generate.num_train=48",
    "data.generate.num_val=8",
    "data.generate.num_test=8",
    "data.batch_size=16",
    "model.embedding_dim=16",
    "encoder.hidden_size=8",
    "decoder.hidden_size=16",
    "callbacks.rich_progress_bar=null",
    "logger=none",
]
QUALITY = ("acc", "token_acc", "bleu", "chrf")


@pytest.mark.parametrize(
    "variant",
    [
        [
            "attention=general",
            "decoder.style=luong",
            "decoder.input_feeding=true",
            "decode=beam",
            "callbacks=[default,alignment_heatmaps]",
        ],
        ["attention=none"],
        [
            "attention=additive",
            "attention.hidden_size=8",
            "attention.alignment=hard",
            "attention.hard_estimator=reinforce",
            "decoder.style=bahdanau",
        ],
    ],
    ids=["luong_feed_beam", "plain", "bahdanau_hard_reinforce"],
)
def test_a_tiny_run_reports_quality_by_length(make_cfg: Any, tmp_path: Path, variant: list[str]) -> None:
    record = run(make_cfg(*TINY_S2S, *variant, tiny=False))
    assert record["status"] == "completed", record.get("error")
    metrics = record["metrics"]
    for split in ("val", "test"):
        for name in QUALITY:
            assert 0.0 <= metrics[f"{split}/{name}"] <= 1.0
            assert {f"{split}/{name}@len=3", f"{split}/{name}@len=5"} <= set(metrics)
        assert math.isfinite(metrics[f"{split}/loss"]) and f"{split}/tf_token_acc" in metrics
    assert record["data"]["test/by_length"] == {"3": 8, "5": 8}
    assert record["config"]["torch_threads"] == 1
    pngs = sorted((tmp_path / "run" / "attention_heatmaps").glob("*.png"))
    assert len(pngs) == (4 if "callbacks=[default,alignment_heatmaps]" in variant else 0)


def test_the_checkpoint_evaluates_to_the_same_test_metrics(make_cfg: Any) -> None:
    trained = run(make_cfg(*TINY_S2S, "attention=dot", tiny=False, name="train"))
    evaluated = run(
        make_cfg(
            *TINY_S2S,
            "attention=dot",
            f"ckpt_path={trained['checkpoint']}",
            tiny=False,
            name="eval",
            config_name="eval",
        )
    )
    assert evaluated["status"] == "completed", evaluated.get("error")
    tested = {k: v for k, v in trained["metrics"].items() if k.startswith("test/")}
    assert evaluated["metrics"].keys() == tested.keys()
    for key, value in tested.items():
        assert math.isclose(evaluated["metrics"][key], value, rel_tol=1e-6, abs_tol=1e-9), key


TINY_STUDY = {
    "description": "A tiny seq2seq length study for the tests.",
    "question": "Does the seq2seq study pipeline work?",
    "overrides": [o for o in TINY_S2S if not o.startswith("logger")]
    + ["logger=csv", "callbacks=[default,alignment_heatmaps]", "callbacks.alignment_heatmaps.num_examples=1"],
    "seeds": [1],
    "variants": {
        "plain": {"label": "plain", "overrides": ["attention=none"]},
        "dot": {"label": "Luong dot", "overrides": ["attention=dot"]},
    },
    "table": {"metrics": ["test/acc@len=3", "test/acc@len=5", "test/acc", "test/bleu"], "baseline": "plain"},
    "plots": ["length", "bar", "heatmaps"],
}


@pytest.mark.xdist_group("tiny_study")
def test_a_tiny_seq2seq_study_reports_length_columns_and_a_heatmap(tmp_path: Path) -> None:
    import subprocess

    study_file = tmp_path / "s2s.yaml"
    study_file.write_text(yaml.safe_dump(TINY_STUDY, sort_keys=False))
    command = [
        sys.executable,
        "-m",
        "attnbench.cli.study",
        str(study_file),
        "--launcher",
        "basic",
        "--sweep-dir",
        str(tmp_path / "sweep"),
        "--out",
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (tmp_path / "out" / "table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| model"))
    assert "test acc (len 3)" in header and "test acc (len 5)" in header, table
    assert any(line.startswith("| Luong dot") for line in table.splitlines())
    assert list((tmp_path / "out" / "heatmaps").glob("*.png")), "the report draws the best attention run"
    assert (tmp_path / "out" / "length.png").is_file(), "exact match against the @len= columns"
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/*/run.json")]
    assert len(records) == 2 and all(r["status"] == "completed" for r in records)
