"""``attnbench-analyze <checkpoint or run dir> analysis=[kendall,permutation,...] [overrides]``: faithfulness
analyses of a trained checkpoint (``attnbench.analysis``) into its run directory, with the configuration its
run recorded (the overrides given replace parts of it); ``ckpt_path=<checkpoint>`` works as well. Ends with
the summary per analysis, the files written and the record the results went into.

Exit code 1 with the reason (one line) when the model, the data or the options cannot be analysed.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from attnbench.cli.help import answer_help
from attnbench.cli.summary import print_analysis_summary
from attnbench.config import ConfigKeyError, config_dir, register_configs
from attnbench.runtime.trained_config import checkpoint_argv

log = logging.getLogger(__name__)

register_configs()


def main() -> None:
    """Console entry point: a path as the first argument is the checkpoint (any characters in it)."""
    if answer_help(sys.argv, "analyze"):  # a bare --help, in a second (attnbench.cli.help)
        return
    sys.argv = checkpoint_argv(sys.argv)
    analyze_command()


@hydra.main(config_path=str(config_dir()), config_name="analyze", version_base="1.3")
def analyze_command(cfg: DictConfig) -> None:
    # torch and the analyses load here, not at import: `attnbench-analyze --help` answers in a second
    from attnbench.analysis.adapter import NotAnalysable
    from attnbench.analysis.checkpoint import AnalysisError, analyze
    from attnbench.data.corpus import DataError
    from attnbench.runtime.checkpoints import CheckpointMismatchError

    try:
        done = analyze(cfg)
    except (AnalysisError, NotAnalysable, CheckpointMismatchError, ConfigKeyError, DataError, FileNotFoundError) as err:
        log.error("%s: %s", type(err).__name__, err)
        raise SystemExit(1) from None
    print_analysis_summary(done.summary, done.written, done.record, done.earlier)


if __name__ == "__main__":
    main()
