"""The configuration a checkpoint was trained with, for ``attnbench-eval`` and ``attnbench-analyze``.

Both take a checkpoint (or a run directory: its best checkpoint) and compute with what its run computed:
``data``, ``encoder``, ``attention``, ``pooling``, ``model``, ``decoder``, ``decode`` and ``seed`` come
from the run's ``run.json`` (or, without one, the model settings from the checkpoint's hyperparameters),
and only the overrides the user gave replace them (``data=ag_news``, ``decode=beam``). How and where the
command runs (trainer, logger, callbacks, paths) is the command's own configuration.

A path as the first argument (``attnbench-eval logs/.../seed=42``) becomes ``ckpt_path='<path>'`` before
Hydra reads the command line: Hydra's grammar does not accept ``=`` in an unquoted value.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from typing import Any, cast

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from attnbench.config.hashing import current_config
from attnbench.config.overrides import quoted
from attnbench.runtime.record import RUN_FILE, read_run_record

log = logging.getLogger(__name__)

# What a run computes, as opposed to how and where it runs.
COMPUTED = ("data", "encoder", "attention", "pooling", "model", "decoder", "decode", "seed")
# A ``key=value`` override (``ckpt_path=x.ckpt``, ``+data.x=1``), not a path such as ``logs/seed=42/best.ckpt``.
OVERRIDE = re.compile(r"^[+~]*[A-Za-z_][\w.]*=")


def checkpoint_argv(argv: list[str]) -> list[str]:
    """``argv`` with a checkpoint or run directory given as the first argument turned into the override
    ``ckpt_path='<path>'``, quoted for Hydra, so the path may hold any character (``=``, ``,``, spaces).
    The first argument is a path when it exists, or names a ``.ckpt`` file and is no ``key=value`` override;
    otherwise it is left as it is."""
    if len(argv) < 2 or argv[1].startswith("-"):
        return argv
    first = argv[1]
    if not (Path(first).exists() or (first.endswith(".ckpt") and not OVERRIDE.match(first))):
        return argv
    return [argv[0], f"ckpt_path={quoted(first)}", *argv[2:]]


def run_dir_of(ckpt_path: str | Path) -> Path | None:
    """The run directory a checkpoint belongs to: the nearest folder above it holding ``run.json``."""
    for parent in Path(ckpt_path).resolve().parents:
        if (parent / RUN_FILE).is_file():
            return parent
    return None


def checkpoint_of(path: str | Path) -> Path:
    """The checkpoint ``path`` names: the file itself, or a run directory's best checkpoint (its
    ``run.json`` says which)."""
    path = Path(path)
    if not path.is_dir():
        return path
    record_file = path / RUN_FILE
    best = read_run_record(record_file).get("checkpoint") if record_file.is_file() else None
    if not best:
        found = sorted(p.name for p in path.glob("checkpoints/*.ckpt"))
        raise FileNotFoundError(
            f"{path} is a directory without a best checkpoint in {RUN_FILE}; give a checkpoint file"
            + (f" (it has checkpoints/{', checkpoints/'.join(found)})" if found else " (it holds none)")
        )
    moved = path / "checkpoints" / Path(best).name
    # a run directory copied elsewhere (another machine, a results archive): its record names the old place
    return Path(best) if Path(best).is_file() or not moved.is_file() else moved


def user_overrides() -> list[str]:
    """The overrides of this Hydra job as the user typed them (empty outside a Hydra job)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _override_keys(overrides: list[str]) -> list[str]:
    """The keys the overrides set: ``data`` for ``data=ag_news``, ``data.batch_size`` for
    ``data.batch_size=8`` (``+``/``++``/``~`` prefixes dropped)."""
    return [o.key_or_group for o in OverridesParser.create().parse_overrides(overrides)]


def trained_config(cfg: DictConfig, overrides: list[str] | None = None) -> DictConfig:
    """``cfg`` (``ckpt_path`` set) computing what its checkpoint's run computed, except what
    ``overrides`` (default: this Hydra job's) set; ``ckpt_path`` becomes the checkpoint file."""
    from attnbench.runtime.checkpoints import load_checkpoint  # torch: only when a run is evaluated

    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise FileNotFoundError(
            "no checkpoint given: put the checkpoint (or its run directory) first, e.g. "
            "attnbench-eval logs/.../seed=42 (or ckpt_path=<checkpoint>)"
        )
    ckpt = checkpoint_of(cfg.ckpt_path)
    keys = [k for k in _override_keys(user_overrides() if overrides is None else overrides) if k != "ckpt_path"]
    composed = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    merged = copy.deepcopy(composed) | {"ckpt_path": str(ckpt)}  # composed stays as the overrides made it
    run_dir = run_dir_of(ckpt)
    recorded = (read_run_record(run_dir / RUN_FILE).get("config") or {}) if run_dir else {}
    recorded = current_config(recorded) if recorded else {}  # a run recorded by an earlier version too
    if recorded:
        _take_recorded(merged, recorded, keys)
    elif ckpt.is_file():
        log.warning(
            "no %s above %s: the model settings come from the checkpoint, the data from this command "
            "(data=%s; give the data it was trained on)", RUN_FILE, ckpt, OmegaConf.select(cfg, "data.name"),
        )  # fmt: skip
        _take_hyperparameters(merged, load_checkpoint(ckpt).get("hyper_parameters") or {}, keys)
    for key in keys:  # what an override set inside a group that came from the run
        top = key.split(".")[0]
        if top in COMPUTED and key != top and top not in keys:
            _set(merged, key, composed)
    out = OmegaConf.create(merged)
    OmegaConf.set_struct(out, True)
    return out


def _take_recorded(merged: dict[str, Any], recorded: dict[str, Any], keys: list[str]) -> None:
    """Replace ``merged``'s computed settings by the recorded ones (those the overrides chose stay)."""
    from attnbench.runtime.checkpoints import INTERPOLATED_GROUPS

    for top in COMPUTED:
        if top in recorded and top not in keys:
            merged[top] = recorded[top]
    model = merged.get("model")
    if isinstance(model, dict) and "model" not in keys:
        # the record holds the model resolved; where it holds a group as recorded (model.encoder is the run's
        # encoder) it reads the group again, so that encoder.hidden_size=16 or decode=beam reach the model
        for name in INTERPOLATED_GROUPS:
            if name in model and name in recorded and model[name] == recorded[name]:
                model[name] = "${" + name + "}"


def _set(merged: dict[str, Any], key: str, composed: Any) -> None:
    """``merged[key] = composed[key]`` for a dotted ``key`` (the value the override gave)."""
    parts = key.split(".")
    value: Any = composed
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return  # an override that deleted the key (~key): the recorded value goes as well
        value = value[part]
    node = merged
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _take_hyperparameters(merged: dict[str, Any], hparams: dict[str, Any], keys: list[str]) -> None:
    """Without a run record: the model settings from the checkpoint's hyperparameters (the data is the
    composed one, with the checkpoint's tokenizer and labels)."""
    from attnbench.runtime.checkpoints import INTERPOLATED_GROUPS, MODEL_KEYS

    model = merged.get("model")
    for name, value in hparams.items():
        if name in INTERPOLATED_GROUPS and name in merged:
            if name not in keys:
                merged[name] = value
        elif name in MODEL_KEYS and isinstance(model, dict) and name in model and "model" not in keys:
            model[name] = value
