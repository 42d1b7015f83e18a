"""The config hash: two runs with the same hash compute the same thing (study resume, ``skip_completed``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

from attnbench.config.schema import CLASSIFICATION_TASK

# Keys that do not change what a run computes: left out of the config hash (``config_hash``), so a
# study re-run on another machine, with other paths, loggers, thread counts or labels, still matches.
HASH_EXCLUDED = (
    "paths",
    "logger",
    "hydra",
    "torch_threads",
    "flush_denormal",
    "skip_completed",
    "on_locked",
    "study",
    "placement",
    "resume",
    "tags",
    "task_name",
    "data.cache_dir",
    "data.num_workers",
    "callbacks.model_checkpoint.dirpath",
    "callbacks.rich_progress_bar",
    "callbacks.lr_monitor",
    "callbacks.attention_heatmaps",
    "trainer.enable_model_summary",
)


# Settings added after runs were recorded, at the value that reproduces those runs: left out of the hash
# like unset (null) settings, so adding an option to the code keeps earlier study runs valid.
# (``data.dedup=none`` reproduces the data of runs recorded before de-duplication existed; its default,
# ``exact``, is another computation and hashes as one.)
HASH_DEFAULTS = {
    "model.optimizer.name": "adamw",
    "data.dedup": "none",
    "allow_nonfinite_loss": False,
    "analysis.loo": "probability",
}


# Classes that moved to another module keep the ``_target_`` they were recorded with in the hash, so
# runs recorded before the move still count as done (the name is where the code lives, not what it computes).
HASH_TARGET_ALIASES = {
    "attnbench.runtime.alignment_heatmaps.AlignmentHeatmaps": "attnbench.alignment_heatmaps.AlignmentHeatmaps",
    "attnbench.models.tfidf.TfidfLogReg": "attnbench.baselines.TfidfLogReg",
    # the same checkpoints, with last.ckpt written every epoch: what a run computes is unchanged
    "attnbench.runtime.last_checkpoint.ModelCheckpoint": "pytorch_lightning.callbacks.ModelCheckpoint",
    "attnbench.runtime.early_stopping.EarlyStopping": "pytorch_lightning.callbacks.EarlyStopping",
}


def _recorded_model(model: dict[str, Any]) -> dict[str, Any]:
    """A classification ``model`` node as it was recorded before the task wrapped an ``architecture``:
    the architecture was the ``_target_`` (the same computation, so the same hash)."""
    if model.get("_target_") != CLASSIFICATION_TASK or "architecture" not in model:
        return model
    recorded = {k: v for k, v in model.items() if k != "architecture"}
    recorded["_target_"] = model["architecture"]
    if recorded["_target_"] == "attnbench.models.KerasConv1DAttention":
        recorded.pop("_recursive_", None)  # the Keras example's config had none
    return recorded


def current_model(model: dict[str, Any]) -> dict[str, Any]:
    """A ``model`` node as a run recorded it before the move or the task wrap (the inverse of
    :func:`_recorded_model` and :data:`HASH_TARGET_ALIASES`), as it instantiates today: a recorded
    ``_target_: attnbench.models.TextClassifier`` becomes the classification task wrapping it."""
    target = model.get("_target_")
    moved = {old: new for new, old in HASH_TARGET_ALIASES.items()}
    if target in moved:
        return {**model, "_target_": moved[target]}
    if target in ("attnbench.models.TextClassifier", "attnbench.models.KerasConv1DAttention"):
        return {**model, "_target_": CLASSIFICATION_TASK, "_recursive_": False, "architecture": target}
    return model


def current_config(recorded: dict[str, Any]) -> dict[str, Any]:
    """A run's recorded configuration as it computes the same thing today: the model node through
    :func:`current_model`, and each setting added since (:data:`HASH_DEFAULTS`) that the record lacks at
    the value that reproduces the run (``data.dedup: none`` for data recorded before de-duplication)."""
    config = dict(recorded)
    if isinstance(config.get("model"), dict):
        config["model"] = current_model(config["model"])
    for dotted, value in HASH_DEFAULTS.items():
        *parents, leaf = dotted.split(".")
        node: Any = config
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = value
    return config


def _drop_unset(node: Any, prefix: str = "") -> Any:
    if isinstance(node, dict):
        return {
            k: _drop_unset(v, f"{prefix}{k}.")
            for k, v in node.items()
            if v is not None and HASH_DEFAULTS.get(f"{prefix}{k}", object()) != v
        }
    if isinstance(node, str):
        return HASH_TARGET_ALIASES.get(node, node)
    return node


def config_hash(cfg: DictConfig | dict[str, Any]) -> str:
    """sha256 (16 hex digits) of the resolved configuration without :data:`HASH_EXCLUDED` keys, unset
    (null) settings and :data:`HASH_DEFAULTS`: two runs with the same hash compute the same thing. Works
    on a composed config outside a Hydra run and on the resolved ``config`` of a ``run.json``."""
    node = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg)
    assert isinstance(node, DictConfig)  # a run config is a mapping
    # gone before resolving: they may interpolate Hydra's runtime (the W&B run name, the study's job name)
    for key in ("hydra", "logger", "study"):
        node.pop(key, None)
    if isinstance(node.get("paths"), DictConfig):  # ${hydra:runtime.output_dir} outside a Hydra run
        node.paths.output_dir = "<output_dir>"
    resolved = OmegaConf.to_container(node, resolve=True)
    for dotted in HASH_EXCLUDED:
        *parents, leaf = dotted.split(".")
        parent = resolved
        for p in parents:
            parent = parent.get(p) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(leaf, None)
    if isinstance(resolved, dict) and isinstance(resolved.get("model"), dict):
        resolved["model"] = _recorded_model(resolved["model"])
    resolved = _drop_unset(resolved)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]
