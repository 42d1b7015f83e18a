"""Throughput and memory in every record: ``timings/train_examples_per_s`` and friends in ``run.json``,
in the loggers' summary, and as a study table column."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate

from attnbench.reporting.statistics import build_table
from attnbench.reporting.tables import to_markdown
from attnbench.runtime.callbacks import RichProgressBar
from attnbench.studies.study_file import load_study
from attnbench.train import run

from .helpers import compose_config, read_record


class TrainedBatches(pl.Callback):
    """Counts the examples and non-padding tokens of every batch trained (independently of Throughput)."""

    def __init__(self) -> None:
        self.examples = self.tokens = 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.examples += len(batch)
        self.tokens += int(batch.lengths.sum())


@pytest.fixture(scope="session")  # once per worker, however xdist interleaves modules
def tiny_record(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], TrainedBatches, Path]:
    """One full epoch of a tiny Conv1D on BBC News with a CSV logger."""
    out = tmp_path_factory.mktemp("throughput") / "run"
    cfg = compose_config(
        ["encoder=conv1d", "trainer.max_epochs=1", "logger=csv", "callbacks.rich_progress_bar=null"],
        output_dir=out,
        tiny=True,
    )
    counter = TrainedBatches()
    return run(cfg, extra_callbacks=[counter]), counter, out


def test_record_has_throughput_and_memory(tiny_record: tuple[dict[str, Any], TrainedBatches, Path]) -> None:
    record, counter, out = tiny_record
    assert record["status"] == "completed" and record == read_record(out)
    t = record["timings"]
    assert counter.examples == record["data"]["train/size"] == 1701  # one full epoch, every example once
    # rates are the counts over the training loop's seconds, which lie inside the fit
    assert t["train_examples_per_s"] * t["train_s"] == pytest.approx(counter.examples, rel=1e-9)
    assert t["train_tokens_per_s"] * t["train_s"] == pytest.approx(counter.tokens, rel=1e-9)
    assert 0 < t["train_s"] <= t["fit_s"]
    assert t["train_examples_per_s"] >= counter.examples / t["fit_s"]
    assert t["train_tokens_per_s"] > t["train_examples_per_s"]  # every text has at least one token
    assert t["eval_examples_per_s"] > 0
    memory = record["memory"]
    assert 50 < memory["peak_rss_mb"] < 64_000  # a Python process with torch loaded, in MiB
    assert "cuda_peak_mb" not in memory  # CPU run


def test_loggers_summary_has_throughput_and_memory(tiny_record: tuple[dict[str, Any], TrainedBatches, Path]) -> None:
    record, _, out = tiny_record
    (metrics_csv,) = out.rglob("metrics.csv")
    with metrics_csv.open() as f:
        rows = list(csv.DictReader(f))
    last = {k: v for row in rows for k, v in row.items() if v}
    for key in ("timings/train_examples_per_s", "timings/train_tokens_per_s", "timings/eval_examples_per_s"):
        assert float(last[key]) == pytest.approx(record["timings"][key.split("/")[1]])
    assert float(last["memory/peak_rss_mb"]) == pytest.approx(record["memory"]["peak_rss_mb"])


def test_study_table_shows_train_examples_per_s(tiny_record: tuple[dict[str, Any], TrainedBatches, Path]) -> None:
    record, _, _ = tiny_record
    study = load_study("bilstm_vs_attention")
    assert "timings/train_examples_per_s" in study.extra
    records = []
    for seed in study.seeds:
        r = copy.deepcopy(record)
        r["config"]["seed"] = seed
        r["config"]["study"] = {"name": study.name, "variant": study.baseline}
        records.append(r)
    table = to_markdown(build_table(records, study=study))
    assert "train examples/s" in table and "train time (s)" in table
    assert f"{record['timings']['train_examples_per_s']:,.0f}" in table  # a rate: whole examples per second


def test_default_progress_bar_is_throttled() -> None:
    cfg = compose_config(["trainer=cpu"], output_dir="unused")
    bar = instantiate(cfg.callbacks.rich_progress_bar)
    assert isinstance(bar, RichProgressBar) and bar.min_interval_s == 0.1
