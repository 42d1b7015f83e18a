"""Where a training run starts: :func:`find_resume` picks the checkpoint (``ckpt_path=``, else the run
directory's ``last.ckpt`` with ``resume=true``) before the data are set up, so the data are encoded
with the checkpoint's tokenizer, and checks it as one check for both ways in:

- a checkpoint that cannot be read (cut short by a kill mid-write, a full disk) is reported in one line,
  moved aside to ``<name>.unreadable-<time>`` (kept, not deleted), and the newest readable checkpoint of
  the directory is used instead, or none (a fresh start); the attempt records which;
- a checkpoint taken mid-epoch (``trainer.val_check_interval`` < 1 epoch) is refused: resuming it would
  replay the epoch's first batches and never train on its last ones.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from attnbench.runtime.checkpoints import load_checkpoint

log = logging.getLogger(__name__)

# what torch.load raises on a file cut short or garbled (zip reader, unpickler, short read)
UNREADABLE = (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile)


class MidEpochCheckpointError(ValueError):
    """The checkpoint was saved in the middle of an epoch; resuming it would not give the run's metrics."""


@dataclass
class ResumePoint:
    """The checkpoint a fit starts from (``path`` None: a fresh start) and the files set aside on the way."""

    path: Path | None = None
    checkpoint: dict[str, Any] | None = None
    explicit: bool = False  # ckpt_path= (not the run directory's own last.ckpt)
    set_aside: list[dict[str, str]] = field(default_factory=list)


def checkpoint_dirs(cfg: DictConfig) -> list[Path]:
    """The directories of the configured checkpoint callbacks that keep a ``last.ckpt``."""
    return [
        Path(str(c.dirpath))
        for c in (cfg.get("callbacks") or {}).values()
        if c is not None and c.get("save_last") and c.get("dirpath")
    ]


def _try_load(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        return load_checkpoint(path), ""
    except UNREADABLE as err:
        first = (str(err).splitlines() or [""])[0].split(". ")[0]  # torch's advice after it is generic
        return None, f"{type(err).__name__}: {first}"


def _set_aside(path: Path, reason: str, move: bool) -> dict[str, str]:
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    if move:
        os.replace(path, aside)
    log.warning("unreadable checkpoint %s (%s): moved to %s", path, reason, aside.name)
    return {"file": str(path), "reason": reason, "moved_to": str(aside)}


def _newest_readable(directory: Path, point: ResumePoint, move: bool) -> None:
    """Fill ``point`` with the newest readable ``*.ckpt`` of ``directory``, setting aside unreadable ones."""
    seen = {aside["file"] for aside in point.set_aside}
    candidates = sorted(directory.glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in (p for p in candidates if str(p) not in seen):
        checkpoint, reason = _try_load(path)
        if checkpoint is None:
            point.set_aside.append(_set_aside(path, reason, move))
            continue
        point.path, point.checkpoint = path, checkpoint
        return


def check_epoch_end(checkpoint: dict[str, Any], path: Path) -> None:
    """Raise :class:`MidEpochCheckpointError` when ``checkpoint`` was saved before its epoch's last batch."""
    progress = ((checkpoint.get("loops") or {}).get("fit_loop") or {}).get("epoch_loop.batch_progress") or {}
    done = int(((progress.get("current") or {}).get("completed")) or 0)
    if progress and not progress.get("is_last_batch", True) and done > 0:
        raise MidEpochCheckpointError(
            f"checkpoint {path} was saved mid-epoch (epoch {checkpoint.get('epoch')}, after {done} batches of "
            "it, trainer.val_check_interval below one epoch): resuming it would replay the epoch's first "
            "batches and never train on its last ones, so the metrics would not be those of an uninterrupted "
            "run. Fix: ckpt_path=<a checkpoint saved at an epoch's end>, or resume=false to start afresh "
            "(checkpoints are saved at epochs' ends with trainer.val_check_interval=1.0)."
        )


def find_resume(cfg: DictConfig, move: bool = True) -> ResumePoint:
    """The checkpoint a training run starts from; ``move``: rank 0 sets unreadable files aside (the other
    ranks of a DDP run start after it did)."""
    if not cfg.train:
        return ResumePoint()
    if cfg.ckpt_path:
        path = Path(cfg.ckpt_path)
        checkpoint, reason = _try_load(path) if path.is_file() else (None, "no such file")
        if checkpoint is None:
            raise FileNotFoundError(f"ckpt_path={str(path)!r}: cannot be read ({reason}). Fix: another checkpoint")
        check_epoch_end(checkpoint, path)
        return ResumePoint(path, checkpoint, explicit=True)
    point = ResumePoint()
    if not cfg.resume:
        return point
    for directory in checkpoint_dirs(cfg):
        last = directory / "last.ckpt"
        if not last.exists():
            continue
        point.path, point.checkpoint = last, None
        checkpoint, reason = _try_load(last)
        if checkpoint is None:
            point.path = None
            point.set_aside.append(_set_aside(last, reason, move))
            _newest_readable(directory, point, move)
        else:
            point.checkpoint = checkpoint
        break
    if point.path is not None and point.checkpoint is not None:
        check_epoch_end(point.checkpoint, point.path)
        log.info("resuming from %s (resume=true; resume=false starts afresh)", point.path)
    elif point.set_aside:
        log.warning("no readable checkpoint left in the run directory: starting afresh")
    return point
