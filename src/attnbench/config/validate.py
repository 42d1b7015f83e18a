"""Checks of a composed config that Hydra lets through: ``+key=value`` opens the schemas, and targets,
the Trainer and the optimizer registry accept only their own arguments."""

from __future__ import annotations

import inspect
from dataclasses import fields

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from attnbench.config.schema import OPTIMIZERS, SCHEMAS, RunConfig

SCHEMA_CHECKED_GROUPS = ("data", "encoder", "attention", "pooling", "model", "paths", "decoder", "decode")


class ConfigKeyError(ValueError):
    """A key that no schema or target accepts (typically added with ``+key=value``)."""


def _option_schema(group: str, node: DictConfig) -> type | None:
    options = SCHEMAS.get(group, {})
    if group == "encoder":
        return options.get(node.get("name"))
    if group == "attention":
        return options.get(node.get("name"), options["attention"])
    if group in ("data", "model"):  # by target (and architecture); an unknown one is checked by instantiation
        return next(
            (
                o
                for o in options.values()
                if getattr(o, "_target_", None) == node.get("_target_")
                and getattr(o, "architecture", None) == node.get("architecture")
            ),
            None,
        )
    if group in ("pooling", "paths", "decoder", "decode"):
        return next(iter(options.values()))
    return None


def _check_schema(group: str, node: DictConfig) -> None:
    """The group's keys against the schema of its option (merging raises on an unknown key or type)."""
    schema = _option_schema(group, node)
    if schema is None:
        return
    try:
        OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.to_container(node, resolve=False))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or getattr(err, "key", None) or "?"
        raise ConfigKeyError(
            f"config key '{group}.{key}' is not valid for {schema.__name__}: {str(err).splitlines()[0]}. "
            f"Accepted keys: {', '.join(f.name for f in fields(schema))}"
        ) from None


def _accepted_parameters(target: object) -> set[str] | None:
    """The argument names ``target`` accepts; for a class whose ``__init__`` passes ``**kwargs`` on to its
    bases (a subclass that adds a setting or behaviour), its own names and those of the bases up to the
    first that takes no ``**kwargs``; None when every one takes ``**kwargs``."""
    inits = (
        [k.__dict__["__init__"] for k in target.__mro__ if "__init__" in k.__dict__] if isinstance(target, type) else []
    )
    names: set[str] = set()
    for init in inits or [target]:
        params = inspect.signature(init).parameters
        names |= {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
    return None


def _check_target_keys(path: str, node: DictConfig) -> None:
    """Every key of a ``_target_`` node must be a parameter of the target (unless it takes ``**kwargs``)."""
    params = _accepted_parameters(get_object(node._target_))
    if params is None:
        return
    for key in map(str, node):
        if not key.startswith("_") and key not in params:
            raise ConfigKeyError(
                f"config key '{path}.{key}' is not an argument of {node._target_}; "
                f"accepted: {', '.join(sorted(params))}"
            )


def _check_optimizer(model: object) -> None:
    optimizer = model.get("optimizer") if isinstance(model, DictConfig) else None
    if isinstance(optimizer, DictConfig) and optimizer.get("name") is not None and optimizer.name not in OPTIMIZERS:
        raise ConfigKeyError(f"model.optimizer.name={optimizer.name!r} is unknown; use one of {sorted(OPTIMIZERS)}")


def _check_trainer(trainer: object) -> None:
    if not isinstance(trainer, DictConfig):
        return
    # imported here, not at the top: studies and reports hash configs without paying Lightning's import time
    import pytorch_lightning as pl

    params = inspect.signature(pl.Trainer.__init__).parameters
    for key in map(str, trainer):
        if key not in params:
            raise ConfigKeyError(f"config key 'trainer.{key}' is not a pytorch_lightning.Trainer argument")


def validate(cfg: DictConfig) -> None:
    """Check keys that Hydra lets through (``+key=value`` opens the schemas) before anything runs.

    Raises :class:`ConfigKeyError` naming the unknown key and what is accepted there.
    """
    allowed = {f.name for f in fields(RunConfig)} | {"hydra"}
    for key in map(str, cfg):
        if key not in allowed:
            raise ConfigKeyError(f"unknown top-level config key '{key}'; accepted: {', '.join(sorted(allowed))}")
    for group in SCHEMA_CHECKED_GROUPS:
        node = cfg.get(group)
        if isinstance(node, DictConfig):
            _check_schema(group, node)
    _check_optimizer(cfg.get("model"))
    _check_trainer(cfg.get("trainer"))
    for group in ("logger", "callbacks"):
        for name, node in (cfg.get(group) or {}).items():
            if isinstance(node, DictConfig) and "_target_" in node:
                _check_target_keys(f"{group}.{name}", node)
