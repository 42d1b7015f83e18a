"""Checkpoints: written whole or not at all (:class:`AtomicCheckpointIO`), read back with
``weights_only=True``, and a clear error on a config mismatch."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins import TorchCheckpointIO

from attnbench.config.schema import SCHEMAS
from attnbench.config.store import config_dir

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


def _interpolated_groups() -> frozenset[str]:
    """Model settings that are a group of their own (``encoder: ${encoder}`` in a model schema): the user
    types ``encoder.hidden_size``, not ``model.encoder.hidden_size``."""
    groups = set()
    for schema in SCHEMAS["model"].values():
        for f in fields(schema):
            if isinstance(f.default, str) and f.default == "${" + f.name + "}":
                groups.add(f.name)
    return frozenset(groups)


INTERPOLATED_GROUPS = _interpolated_groups()
# Settings that do not shape the weights: a checkpoint evaluates under other values of them (decode=beam,
# other data's length buckets).
EVALUATION_ONLY = ("decode", "length_edges", "length_labels", "longest_target")


MODEL_KEYS = frozenset(f.name for schema in SCHEMAS["model"].values() for f in fields(schema))


def user_key(key: str) -> str:
    """The override a user types for a task hyperparameter ``key`` (``encoder.hidden_size``,
    ``model.embedding_dim``); a setting the data decides (``vocab_size``) is named as it is."""
    top = key.split(".")[0]
    if top in INTERPOLATED_GROUPS:
        return key
    return f"model.{key}" if top in MODEL_KEYS else key


def _typed_key(key: str, saved: dict[str, Any]) -> str:
    return key.split(".")[0] if _is_choice(key, saved.get(key)) else user_key(key)


def _settable(key: str) -> bool:
    """Whether a user sets ``key`` with an override (else the data decides it)."""
    top = key.split(".")[0]
    return top in INTERPOLATED_GROUPS or top in MODEL_KEYS


def _typed(value: Any) -> str:
    """``value`` as a command-line override writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(_typed(v) for v in value) + "]"
    return str(value)


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The differing keys; where a group's option differs (``encoder.name``: bilstm, conv1d) only that
    key, shown as the choice (``encoder=bilstm``), not each setting the two options differ in."""
    absent = "<absent>"
    keys = [k for k in sorted(set(saved) | set(current)) if k.split(".")[0] not in EVALUATION_ONLY]
    diffs = [k for k in keys if saved.get(k, absent) != current.get(k, absent)]
    chosen = {k.split(".")[0] for k in diffs if _is_choice(k, saved.get(k))}
    return [k for k in diffs if k.split(".")[0] not in chosen or _is_choice(k, saved.get(k))]


def _is_choice(key: str, value: Any) -> bool:
    """Whether ``key`` is a group's ``name`` that is also an option file (``encoder.name: bilstm`` is
    ``encoder=bilstm``; attention's ``name: attention`` is not an option)."""
    group, _, rest = key.partition(".")
    return rest == "name" and group in INTERPOLATED_GROUPS and (config_dir() / group / f"{value}.yaml").is_file()


def check_compatible(
    model: pl.LightningModule,
    checkpoint: dict[str, Any],
    ckpt_path: str | Path,
    hint: str = "",
) -> None:
    """Raise :class:`CheckpointMismatchError`, one line naming every setting (as the override a user
    types, :func:`user_key`) on which ``checkpoint`` and ``model`` differ, both values and the fix.
    ``hint`` adds another way out.

    The task's ``on_load_checkpoint`` runs first, as in a Lightning resume: it maps, in place, a
    checkpoint of an earlier layout (a classifier saved before tasks wrapped the models)."""
    model.on_load_checkpoint(checkpoint)
    saved = _flatten(checkpoint.get("hyper_parameters", {}))
    current = _flatten(dict(model.hparams))
    for key, value in LEGACY_DEFAULTS.items():  # checkpoints from before a setting existed had its default
        if key in current and key not in saved:
            saved[key] = value
    diffs = _differences(saved, current)
    if not diffs:
        return
    was, now = ({k: _typed(d.get(k, "<absent>")) for k in diffs} for d in (saved, current))
    shown = ", ".join(f"{_typed_key(k, saved)}={was[k]} (here {now[k]})" for k in diffs)
    fix = " ".join(f"{_typed_key(k, saved)}={_typed(saved[k])}" for k in diffs if _settable(k) and k in saved)
    way = f"pass {fix} or leave out the overrides that changed them" if fix else "evaluate it on its own data"
    raise CheckpointMismatchError(
        f"checkpoint {ckpt_path} was trained with {shown}. Fix: {way}" + (f", {hint}" if hint else "") + "."
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
