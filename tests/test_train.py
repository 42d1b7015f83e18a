"""``attnbench.train.run`` in-process: fast_dev_run over encoder × aggregator, determinism, failures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl

from attnbench.train import run

from .helpers import CONF, assert_completed, error_chain, read_record

ENCODERS = sorted(p.stem for p in (CONF / "encoder").glob("*.yaml"))
# One preset per aggregator class end to end through `run`; tests/test_attention.py runs every preset
# and every score × alignment × query variant (fast_dev_run on one shared data module).
ATTENTIONS = ["additive", "multihead"]
POOLINGS = sorted(p.stem for p in (CONF / "pooling").glob("*.yaml"))
AGGREGATORS = [f"attention=none pooling={p}" for p in POOLINGS] + [f"attention={a}" for a in ATTENTIONS]


# Every encoder by its last state and under attention, end to end; every other aggregator on the BiLSTM.
# Pooling and attention take any encoder's [B, T, H] outputs and mask; tests/test_encoders.py crosses every
# attention preset with every new encoder at the module level, without a Trainer's few seconds each.
FAST_DEV_RUNS = [(e, a) for e in ENCODERS for a in ("attention=none pooling=last", "attention=additive")] + [
    ("bilstm", a) for a in AGGREGATORS if a not in ("attention=none pooling=last", "attention=additive")
]


@pytest.mark.slow
@pytest.mark.parametrize(("encoder", "aggregator"), FAST_DEV_RUNS)
def test_fast_dev_run(encoder: str, aggregator: str, make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(f"encoder={encoder}", *aggregator.split(), "debug=fdr", "logger=none")
    record = run(cfg)
    assert record == read_record(tmp_path / "run")
    assert_completed(record)
    assert record["config"]["encoder"]["name"] == encoder
    assert record["timings"]["fit_s"] > 0 and record["timings"]["test_s"] > 0
    assert record["data"]["train/size"] == 1701  # 2,225 articles less 98 copies, 80%
    assert record["env"]["torch"] and record["run_dir"] == str(tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["cosine", "plateau"])
def test_fast_dev_run_with_scheduler(scheduler: str, make_cfg) -> None:
    cfg = make_cfg(
        "encoder=conv1d",
        "debug=fdr",
        "logger=none",
        f"model.scheduler.name={scheduler}",
        "model.scheduler.warmup_fraction=0.5",
    )
    assert_completed(run(cfg))


class BatchRecorder(pl.Callback):
    """The example indices of every training batch, per epoch."""

    def __init__(self) -> None:
        self.epochs: list[list[list[int]]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs.append([])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.epochs[-1].append(batch.index.tolist())


@pytest.mark.slow
def test_same_config_and_seed_give_identical_metrics(make_cfg, tmp_path: Path) -> None:
    overrides = ("encoder=bilstm", "attention=additive", "debug=limit", "logger=csv", "seed=5")
    records, recorders = [], []
    # b keeps subnormal floats: flushing them (the default) does not change what a run computes
    for name, flush in (("a", "true"), ("b", "false")):
        recorder = BatchRecorder()
        records.append(run(make_cfg(*overrides, f"flush_denormal={flush}", name=name), extra_callbacks=[recorder]))
        recorders.append(recorder)
    a, b = records
    assert_completed(a)
    assert a["metrics"] == b["metrics"]  # exactly, every metric
    assert a["params"] == b["params"]
    assert a["numerics"]["flush_denormal"] is True and b["numerics"]["flush_denormal"] is False
    assert a["config_hash"] == b["config_hash"]

    # The same batches in the same order.
    assert recorders[0].epochs == recorders[1].epochs
    first, second = recorders[0].epochs
    assert len(first) == len(second) == 4 and all(len(batch) == 32 for batch in first)

    # debug=limit keeps checkpoints and the best one is what was tested.
    ckpt = Path(a["checkpoint"])
    assert ckpt.is_file() and ckpt.parent == tmp_path / "a" / "checkpoints"
    assert (tmp_path / "a" / "checkpoints" / "last.ckpt").is_file()

    # The CSV logger got the epoch metrics and, at the end, the run.json summary.
    rows = list(csv.DictReader((tmp_path / "a" / "csv" / "metrics.csv").open()))
    val_acc = [float(r["val/acc"]) for r in rows if r.get("val/acc")]
    assert len(val_acc) >= 2 and math.isclose(max(val_acc), a["metrics"]["val/acc"], rel_tol=1e-6)
    summary_rows = [r for r in rows if r.get("timings/total_s")]
    assert summary_rows and math.isclose(float(summary_rows[-1]["test/acc"]), a["metrics"]["test/acc"], rel_tol=1e-6)


@pytest.mark.slow
def test_training_batches_change_every_epoch(make_cfg) -> None:
    recorder = BatchRecorder()
    record = run(make_cfg("encoder=conv1d", "debug=limit", "logger=none", "callbacks=none"), extra_callbacks=[recorder])
    assert record["status"] == "completed"
    first, second = recorder.epochs
    assert sorted(map(sorted, first)) != sorted(map(sorted, second))


@pytest.mark.slow
def test_test_false_fits_only(make_cfg, tmp_path: Path) -> None:
    """``test=false``: fit only; the record has val metrics and no test metrics."""
    record = run(make_cfg("encoder=conv1d", "debug=fdr", "logger=none", "test=false"))
    assert_completed(record, metrics=("val/acc", "val/loss"))
    assert not any(k.startswith("test/") for k in record["metrics"])
    assert "test_s" not in record["timings"]


def test_failed_run_writes_a_failed_record(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("data.max_length=0", "logger=none")
    with pytest.raises(Exception) as info:
        run(cfg)
    assert "data.max_length" in error_chain(info.value)
    record = read_record(tmp_path / "run")
    assert record["status"] == "failed"
    assert "data.max_length must be >= 1" in record["error"]
    assert "Traceback" in record["traceback"]
    assert record["metrics"] == {} and record["config"]["data"]["max_length"] == 0
    assert "total_s" in record["timings"]


def test_a_second_run_in_the_same_directory_keeps_the_first_record(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("data.max_length=0", "logger=none")
    for _ in range(2):
        with pytest.raises(Exception, match="max_length"):
            run(cfg)
    assert (tmp_path / "run" / "run.json").is_file() and (tmp_path / "run" / "run.1.json").is_file()


@pytest.mark.slow
def test_appended_typo_fails_before_training(make_cfg, tmp_path: Path) -> None:
    """`+encoder.hiden_size=3` slips past composition (see test_configs.py); the model build still
    stops the run, naming the key, before any training step."""
    recorder = BatchRecorder()
    with pytest.raises(Exception) as info:
        run(make_cfg("+encoder.hiden_size=3", "debug=fdr", "logger=none"), extra_callbacks=[recorder])
    assert "hiden_size" in error_chain(info.value)
    assert recorder.epochs == []
    record = read_record(tmp_path / "run")
    assert record["status"] == "failed" and "hiden_size" in record["error"]
