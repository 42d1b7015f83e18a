"""``attnbench-eval <checkpoint or run dir> [overrides]``: test a saved checkpoint, write ``run.json``.

The checkpoint is computed with the configuration its run recorded (``attnbench.runtime.trained_config``);
the overrides given replace parts of it (``data=ag_news`` tests on other data, ``decode=beam`` decodes by
beam search). ``ckpt_path=<checkpoint>`` works as well. Ends with the test metrics, the checkpoint and the
record's path; exit code 1 with one line naming what to fix when the checkpoint or the data do not fit.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from attnbench.cli.help import answer_help
from attnbench.cli.summary import print_run_summary
from attnbench.config import ConfigKeyError, config_dir, register_configs
from attnbench.runtime.record import RUN_FILE, read_run_record
from attnbench.runtime.trained_config import checkpoint_argv, run_dir_of, trained_config

log = logging.getLogger(__name__)

register_configs()  # the schema the eval config's defaults name


def main() -> None:
    """Console entry point: a path as the first argument is the checkpoint (any characters in it)."""
    if answer_help(sys.argv, "eval"):  # a bare --help, in a second (attnbench.cli.help)
        return
    sys.argv = checkpoint_argv(sys.argv)
    evaluate()


@hydra.main(config_path=str(config_dir()), config_name="eval", version_base="1.3")
def evaluate(cfg: DictConfig) -> float | None:
    # torch, Lightning and the data stack load here, not at import: `attnbench-eval --help` starts in a second
    from attnbench.data.corpus import DataError
    from attnbench.data.provenance import warn_if_data_differs
    from attnbench.runtime.checkpoints import CheckpointMismatchError
    from attnbench.runtime.distributed import process_rank
    from attnbench.train import run

    try:
        cfg = trained_config(cfg)
        warn_if_data_differs(cfg)  # other data settings than the checkpoint's: its test set may overlap training
        record = run(cfg)
    except (CheckpointMismatchError, ConfigKeyError, DataError, FileNotFoundError) as err:  # says what to fix
        log.error("%s: %s", type(err).__name__, err)
        raise SystemExit(1) from None
    if process_rank() == 0:  # beside the test metrics, the validation metrics of the run that trained it
        owner = run_dir_of(cfg.ckpt_path)
        trained = read_run_record(owner / RUN_FILE).get("metrics", {}) if owner else {}
        val = {k: v for k, v in trained.items() if k.startswith("val/")}
        print_run_summary({**record, "metrics": {**val, **record["metrics"]}})
    return record["metrics"].get("test/acc")


if __name__ == "__main__":
    main()
