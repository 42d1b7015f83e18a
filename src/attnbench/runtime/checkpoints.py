"""Checkpoints: written whole or not at all (:class:`AtomicCheckpointIO`), read back with
``weights_only=True``, and a clear error on a config mismatch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins import TorchCheckpointIO

# Hyperparameters added after checkpoints existed, with the value those checkpoints were trained with.
LEGACY_DEFAULTS = {"optimizer.name": "adamw", "attention.frozen": None}


class CheckpointMismatchError(ValueError):
    """The checkpoint was trained with a different model configuration than the one composed."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={str(path)!r}: no such checkpoint file")
    return torch.load(path, map_location="cpu", weights_only=True)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def restore_data_state(dm: pl.LightningDataModule, checkpoint: dict[str, Any]) -> None:
    """Give a DataModule the tokenizer and label names saved with the checkpoint (before ``setup``)."""
    state = checkpoint.get(type(dm).__qualname__)
    if state:
        dm.load_state_dict(state)


def check_compatible(
    model: pl.LightningModule,
    checkpoint: dict[str, Any],
    ckpt_path: str | Path,
    hint: str = "",
) -> None:
    """Raise :class:`CheckpointMismatchError` listing every hyperparameter (as ``model.<key>``) on
    which ``checkpoint`` and ``model`` differ, with both values. ``hint`` adds another way out."""
    saved = _flatten(checkpoint.get("hyper_parameters", {}))
    current = _flatten(dict(model.hparams))
    for key, value in LEGACY_DEFAULTS.items():  # checkpoints from before a setting existed had its default
        if key in current and key not in saved:
            saved[key] = value
    diffs = [
        f"model.{k}: checkpoint has {saved.get(k, '<absent>')!r}, config has {current.get(k, '<absent>')!r}"
        for k in sorted(set(saved) | set(current))
        if saved.get(k, "<absent>") != current.get(k, "<absent>")
    ]
    if diffs:
        raise CheckpointMismatchError(
            f"checkpoint {ckpt_path} was trained with a different model configuration:\n  "
            + "\n  ".join(diffs)
            + "\nFix: pass the overrides the checkpoint was trained with (its run directory's "
            ".hydra/overrides.yaml lists them)" + (f", {hint}" if hint else "") + "."
        )


def load_weights(model: pl.LightningModule, checkpoint: dict[str, Any], ckpt_path: str | Path) -> None:
    """Load the checkpoint's weights into ``model`` after checking the two were configured alike
    (:func:`check_compatible`)."""
    check_compatible(model, checkpoint, ckpt_path)
    model.load_state_dict(checkpoint["state_dict"])


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made so that no reader ever sees a partial checkpoint: the file is
    written beside its target under a temporary name, flushed to disk (fsync) and renamed over the
    target in one step. A kill, a preemption or a full disk mid-write leaves the previous file whole
    (and at most a ``.<name>.tmp<pid>`` file, which nothing reads)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: fsspec's own transaction
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                torch.save(checkpoint, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)  # the rename itself survives a power cut


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a file system without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
