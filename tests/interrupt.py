"""A fault injector for the resume test, loaded by the CLI through
``+callbacks.kill._target_=tests.interrupt.KillAtEpoch +callbacks.kill.epoch=<k>``.

At the start of epoch ``k`` of a run that did not resume from a checkpoint, it SIGKILLs its whole
process group (every DDP rank at once, no cleanup, no run.json: a preempted node). A run that did
resume passes through, so the same command, run twice, dies once and then finishes.
"""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class KillAtEpoch(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Epoch k-1's checkpoints are on disk: Lightning saves them synchronously before this hook.
        if trainer.current_epoch == self.epoch and trainer.ckpt_path is None and trainer.is_global_zero:
            os.killpg(os.getpgrp(), signal.SIGKILL)
