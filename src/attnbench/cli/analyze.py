"""``attnbench-analyze ckpt_path=<checkpoint> analysis=[kendall,permutation,...] [overrides]``: faithfulness
analyses of a trained checkpoint (``attnbench.analysis``) into its run directory.

Exit code 1 with the reason when the model, the data or the options cannot be analysed.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from attnbench.analysis.adapter import NotAnalysable
from attnbench.analysis.checkpoint import AnalysisError, analyze
from attnbench.config import config_dir, register_configs
from attnbench.data.corpus import DataError
from attnbench.runtime.checkpoints import CheckpointMismatchError

log = logging.getLogger(__name__)

register_configs()


@hydra.main(config_path=str(config_dir()), config_name="analyze", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        analyze(cfg)
    except (AnalysisError, NotAnalysable, CheckpointMismatchError, DataError, FileNotFoundError) as err:
        log.error("%s: %s", type(err).__name__, err)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
