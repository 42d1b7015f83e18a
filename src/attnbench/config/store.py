"""Where the configs are: the ``conf/`` tree, and the schemas in Hydra's ConfigStore."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore

from attnbench.config.schema import SCHEMAS, RunConfig


def register_configs() -> None:
    """Store the schemas under ``schema/<group>/<name>`` and the top level as ``run_schema``."""
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


def config_dir() -> Path:
    """The ``conf/`` tree: inside the installed package (wheel) or at the repository root (editable)."""
    package = Path(__file__).resolve().parents[1]  # src/attnbench (editable) or site-packages/attnbench
    packaged = package / "conf"
    return packaged if packaged.is_dir() else package.parents[1] / "conf"
