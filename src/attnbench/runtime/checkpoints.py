"""Reading checkpoints back: always ``weights_only=True``, and a clear error on a config mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

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
    which ``checkpoint`` and ``model`` differ, with both values. ``hint`` adds another way out.

    The task's ``on_load_checkpoint`` runs first, as in a Lightning resume: it maps, in place, a
    checkpoint of an earlier layout (a classifier saved before tasks wrapped the models)."""
    model.on_load_checkpoint(checkpoint)
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
