"""Fault injectors for the resume tests, loaded by the CLI through
``+callbacks.kill._target_=tests.interrupt.KillAtEpoch +callbacks.kill.epoch=<k>``.

At the start of epoch ``k`` of a run that did not resume from a checkpoint, it SIGKILLs its whole
process group (every DDP rank at once, no cleanup, no run.json: a preempted node). A run that did
resume passes through, so the same command, run twice, dies once and then finishes.

:class:`KillMidStudy` (``+callbacks.kill._target_=tests.interrupt.KillMidStudy``) kills a whole study
once, mid-epoch, after some of its runs completed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class KillAtEpoch(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Epoch k-1's checkpoints are on disk: Lightning saves them synchronously before this hook.
        if trainer.current_epoch == self.epoch and trainer.ckpt_path is None and trainer.is_global_zero:
            os.killpg(os.getpgrp(), signal.SIGKILL)


class KillMidStudy(pl.Callback):
    """In a study job (directory ``<sweep>/<variant>/<seed dir>``): at batch ``batch`` of epoch ``epoch``
    (epoch ``epoch - 1``'s checkpoints on disk), once ``done`` runs of the sweep completed (with 3 jobs
    on 2 joblib workers, the third starts after the first completed, so it always comes), SIGKILL the
    process group: the whole ``attnbench-study`` (its multirun and every joblib worker). Only when the
    environment names a marker file ``ATTNBENCH_TEST_KILL_MARKER`` that does not exist yet; it is created
    first (atomically) with this run's directory, so one job, once, does it."""

    def __init__(self, done: int = 1, epoch: int = 1, batch: int = 1) -> None:
        self.done, self.epoch, self.batch = done, epoch, batch

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        marker = os.environ.get("ATTNBENCH_TEST_KILL_MARKER")
        if not marker or trainer.current_epoch != self.epoch or idx != self.batch:
            return
        run_dir = Path(trainer.default_root_dir)
        records = [json.loads(p.read_text()) for p in run_dir.parents[1].glob("*/*/run.json")]
        if sum(r.get("status") == "completed" for r in records) < self.done:
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(run_dir).encode())
        os.close(fd)
        os.killpg(os.getpgrp(), signal.SIGKILL)


class KillAtBatch(pl.Callback):
    """SIGKILL the process group at batch ``batch`` of epoch ``epoch`` of a run that did not resume: with
    ``trainer.val_check_interval`` below an epoch, the checkpoints on disk then were saved mid-epoch."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        if (trainer.current_epoch, idx) == (self.epoch, self.batch) and trainer.ckpt_path is None:
            os.killpg(os.getpgrp(), signal.SIGKILL)


class PauseAtBatch(pl.Callback):
    """At batch ``batch`` of epoch 0, create the file ``$ATTNBENCH_TEST_PAUSED`` and wait (at most
    ``timeout_s``) until the file ``$ATTNBENCH_TEST_RESUME`` exists: a run held mid-training while a test
    looks at it from outside."""

    def __init__(self, batch: int = 1, timeout_s: float = 300.0) -> None:
        self.batch, self.timeout_s = batch, timeout_s

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        paused, resume = os.environ.get("ATTNBENCH_TEST_PAUSED"), os.environ.get("ATTNBENCH_TEST_RESUME")
        if not paused or not resume or (trainer.current_epoch, idx) != (0, self.batch):
            return
        Path(paused).write_text(str(os.getpid()))
        deadline = time.monotonic() + self.timeout_s
        while not Path(resume).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
