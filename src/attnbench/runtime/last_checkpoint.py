"""``last.ckpt`` every epoch for one write: :class:`ModelCheckpoint` (``callbacks.model_checkpoint``).

Lightning's ``ModelCheckpoint(save_last=True)`` writes ``last.ckpt`` only at a step where it wrote a top-k
checkpoint, and then as a second full copy of it. So an epoch that does not improve the monitored metric
leaves ``last.ckpt`` at an earlier epoch (a resume from it trains epochs again: not the uninterrupted run),
and an epoch that does improve writes the same state twice. Here ``last.ckpt`` holds every epoch's end
state and costs at most one write a save: when the best checkpoint was just written, ``last.ckpt``
becomes a hard link to it (the same bytes, no copy; it survives when the best one is later deleted);
otherwise ``last.ckpt`` is written in full. The link replaces the old ``last.ckpt`` by one rename, so
a reader finds the old file or the new one, never none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint as LightningModelCheckpoint
from torch import Tensor


class ModelCheckpoint(LightningModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` (same arguments) whose ``last.ckpt`` is written or linked at every
    save. Named as Lightning's: the class name is part of ``state_key``, under which checkpoints keep
    the callback's state, so checkpoints of either class resume with the other."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning calls _save_last_checkpoint at every save only in its "link" mode; the override below
        # decides between a link and a write. A symlink (Lightning's link) would dangle once the best
        # checkpoint it names is replaced.
        self._every_save = bool(self.save_last)
        self._state_key = super().state_key

    @property
    def state_key(self) -> str:
        """Lightning's key, computed once: it names the callback in every hook call of every step."""
        return self._state_key

    def _save_last_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict[str, Tensor]) -> None:
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)
        previous, self.last_model_path = self.last_model_path, filepath
        just_saved = self._last_global_step_saved == trainer.global_step and self._last_checkpoint_saved
        if just_saved and os.path.abspath(self._last_checkpoint_saved) != os.path.abspath(filepath):
            self._hard_link(trainer, self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and previous != filepath and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with self._link_mode():
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with self._link_mode():
            super().on_validation_end(trainer, pl_module)

    @contextmanager
    def _link_mode(self) -> Iterator[None]:
        """Within the block ``save_last`` reads ``"link"``: Lightning's hooks then call
        :meth:`_save_last_checkpoint` at every save, not only after a top-k write."""
        saved = self.save_last
        self.save_last = "link" if self._every_save else saved
        try:
            yield
        finally:
            self.save_last = saved

    @staticmethod
    def _hard_link(trainer: pl.Trainer, target: str, linkpath: str) -> None:
        """``linkpath`` becomes another name of ``target`` (rank 0; the others wait), by one rename."""
        if trainer.is_global_zero:
            staged = f"{linkpath}.link-{os.getpid()}"
            if os.path.lexists(staged):
                os.remove(staged)
            try:
                os.link(target, staged)
            except OSError:  # a file system without hard links: a copy, as Lightning's link falls back to
                shutil.copyfile(target, staged)
            os.replace(staged, linkpath)
        trainer.strategy.barrier()
