"""Where the configs are: the ``conf/`` tree, and the schemas in Hydra's ConfigStore."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from attnbench.config.schema import SCHEMAS, RunConfig


def register_configs() -> None:
    """Store the schemas under ``schema/<group>/<name>`` and the top level as ``run_schema``."""
    # the --help menu (conf/hydra/help/attnbench.yaml) reads a group's options as ${attnbench_options:<group>}
    OmegaConf.register_new_resolver("attnbench_options", group_options, replace=True)
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


def group_options(group: str) -> str:
    """The options a user picks from in ``group``, ``a | b | c`` in name order (``conf/<group>/*.yaml``)."""
    return " | ".join(sorted(p.stem for p in (config_dir() / group).glob("*.yaml")))
