"""``attnbench-eval ckpt_path=<checkpoint> [overrides]``: test a saved checkpoint, write ``run.json``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from attnbench.config import config_dir
from attnbench.data.provenance import warn_if_data_differs
from attnbench.train import run


@hydra.main(config_path=str(config_dir()), config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    warn_if_data_differs(cfg)  # other data settings than the checkpoint's: its test set may overlap training
    record = run(cfg)
    return record["metrics"].get("test/acc")


if __name__ == "__main__":
    main()
