"""Is this the data a checkpoint was trained on? ``attnbench-eval`` on other data settings (another
``split_seed``, another source, another ``dedup``) tests on a set that may overlap the checkpoint's
training examples; it says so in one line.

Both data modules save ``data_config`` (their :meth:`data_identity`: the settings that decide which
examples exist and which split each falls in) and ``processing_key`` in checkpoints (``state_dict``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (a checkpoint may hold a list where the module now has a tuple)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def data_mismatch(identity: dict[str, Any], checkpoint: dict[str, Any], data_class: str) -> str | None:
    """One line naming the data settings on which ``identity`` (the configured data module's
    :meth:`data_identity`) differs from what ``checkpoint`` was trained on, or None when they agree or
    the checkpoint predates the record (``data_class``: the data module's ``__qualname__``)."""
    saved = (checkpoint.get(data_class) or {}).get("data_config")
    if saved is None:
        return None
    diffs = [
        f"{key}: {_short(saved.get(key))} -> {_short(identity.get(key))}"
        for key in sorted(set(saved) | set(identity))
        if not _same(saved.get(key), identity.get(key))
    ]
    if not diffs:
        return None
    return (
        "the data differ from the checkpoint's training data (" + "; ".join(diffs) + "): its test set may "
        "overlap the examples it was trained on. Fix: evaluate with the data.* settings it was trained with."
    )


def warn_if_data_differs(cfg: DictConfig) -> str | None:
    """For ``attnbench-eval``: log (and return) :func:`data_mismatch`'s line for ``cfg.data`` against
    ``cfg.ckpt_path``. Nothing when there is no checkpoint (the run reports that)."""
    if not cfg.get("ckpt_path") or cfg.get("data") is None:
        return None
    try:
        checkpoint = torch.load(cfg.ckpt_path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError):  # missing or unreadable: the run itself fails with the reason
        return None
    dm = instantiate(cfg.data)  # the constructor reads no data; setup() does
    line = data_mismatch(dm.data_identity(), checkpoint, type(dm).__qualname__)
    if line:
        log.warning(line)
    return line
