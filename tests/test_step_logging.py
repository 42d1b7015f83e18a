"""Training metrics are logged as before, with less host work per step: every value the loggers get
(train/loss_step every ``log_every_n_steps``, train/loss_epoch, train/acc, train/f1_macro, the validation
metrics) is exactly what logging torchmetrics' objects through ``self.log`` each step gave (a reference
task that logs the plain Lightning way, swapped in at setup), and a training step calls
``LightningModule.log`` no more; the confusion counts equal torchmetrics' accuracy and macro F1."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attnbench.tasks.base import Task
from attnbench.tasks.confusion import ConfusionCounts
from attnbench.train import run

from .helpers import assert_completed


class LogEveryStep(pl.Callback):
    """At setup, makes the task log the plain Lightning way: ``self.log`` on every step of the metric
    objects it evaluates with (torchmetrics' accuracy and F1, not the training's confusion counts)."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        task_class = type(pl_module)
        assert isinstance(pl_module, Task)
        pl_module.reference_metrics = pl_module.val_metrics.clone(prefix="train/")

        class Reference(task_class):  # type: ignore[valid-type, misc]
            def log_step(self, split: str, loss: Tensor, batch_size: int, preds: Tensor, target: Tensor) -> None:
                if split != "train":
                    return super().log_step(split, loss, batch_size, preds, target)
                metrics: MetricCollection = self.reference_metrics
                metrics.update(preds, target)
                self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=batch_size)
                self.log_dict(metrics, on_step=False, on_epoch=True)

            def on_train_batch_end(self, *args: Any) -> None:
                pass

            def on_train_epoch_end(self) -> None:
                pass

        pl_module.__class__ = Reference


class CountLogCalls(pl.Callback):
    """Counts calls of ``LightningModule.log`` from a training batch's start to the next batch, the
    validation or the epoch's end (the step and every batch-end hook; a profile hook)."""

    def __init__(self) -> None:
        self.calls = 0
        self.steps = 0
        self._code = pl.LightningModule.log.__code__

    def _count(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is self._code:
            self.calls += 1

    def on_train_batch_start(self, *args: Any) -> None:
        self.steps += 1
        sys.setprofile(self._count)

    def on_validation_start(self, *args: Any) -> None:
        sys.setprofile(None)

    def on_train_epoch_end(self, *args: Any) -> None:
        sys.setprofile(None)


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    """The rows of ``metrics.csv`` with their metric values (not the run's closing summary of timings)."""
    keep = ("train/", "val/", "test/", "epoch", "step")
    with open(run_dir / "csv" / "metrics.csv", newline="") as fh:
        rows = [{k: v for k, v in row.items() if v != "" and k.startswith(keep)} for row in csv.DictReader(fh)]
    return [row for row in rows if set(row) - {"epoch", "step"}]


def test_training_metrics_are_the_values_self_log_gave(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    overrides = ["debug=limit", "trainer.limit_train_batches=5", "trainer.log_every_n_steps=2", "logger=csv"]
    overrides += ["callbacks.rich_progress_bar=null", "trainer.max_epochs=3"]
    counter = CountLogCalls()
    assert_completed(run(make_cfg(*overrides, name="new"), extra_callbacks=[counter]))
    assert_completed(run(make_cfg(*overrides, name="reference"), extra_callbacks=[LogEveryStep()]))
    new, reference = metric_rows(tmp_path / "new"), metric_rows(tmp_path / "reference")
    assert new == reference
    logged = {k for row in new for k in row}
    assert {"train/loss_step", "train/loss_epoch", "train/acc", "train/f1_macro", "val/acc"} <= logged
    # 15 steps, written at steps 1, 3, ..., 13 (every 2nd): 7 step losses; 3 epoch rows of training metrics
    assert [row["step"] for row in new if "train/loss_step" in row] == ["1", "3", "5", "7", "9", "11", "13"]
    assert sum("train/acc" in row for row in new) == 3
    # the reference logs 3 values a step; now only the 7 written steps log one (train/loss_step)
    assert counter.steps == 15 and counter.calls == 7, (counter.steps, counter.calls)


def test_confusion_counts_equal_torchmetrics_accuracy_and_macro_f1() -> None:
    generator = torch.Generator().manual_seed(0)
    counts = ConfusionCounts(6)
    reference = {"acc": MulticlassAccuracy(6, average="micro"), "f1_macro": MulticlassF1Score(6, average="macro")}
    for size in (7, 32, 1):  # class 5 never appears (torchmetrics leaves it out of the macro mean)
        logits = torch.randn(size, 6, generator=generator)
        logits[:, 5] = -1e9
        target = torch.randint(0, 5, (size,), generator=generator)
        counts.update(logits, target)
        for metric in reference.values():
            metric.update(logits, target)
    computed = counts.compute()
    for name, metric in reference.items():
        assert torch.equal(computed[name], metric.compute()), (name, computed[name], metric.compute())
