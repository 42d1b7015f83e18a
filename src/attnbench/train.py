"""One run: compose config → data → model → fit/test → ``run.json``.

``attnbench-train [overrides]`` (or ``python -m attnbench.train``) runs one configuration;
``attnbench-train -m encoder=bilstm,conv1d attention=none,additive`` sweeps a grid.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from attnbench.analysis.checkpoint import analyse_fitted
from attnbench.config import config_dir, config_hash, register_configs, validate
from attnbench.data.sources import DataError
from attnbench.fitters import build_fitter
from attnbench.runtime.attempts import begin_attempt
from attnbench.runtime.checkpoints import load_checkpoint, restore_data_state
from attnbench.runtime.distributed import global_rank_from_env, set_process_rank
from attnbench.runtime.placement import place_run
from attnbench.runtime.run_record import RunRecord, reuse_run_dir

log = logging.getLogger(__name__)

register_configs()


def prepare(cfg: DictConfig) -> None:
    """Check the config, then set what the whole process shares: the rank, threads and seeds."""
    validate(cfg)
    # loggers are built before the Trainer knows the rank: only rank 0 may start a W&B run
    set_process_rank(global_rank_from_env(cfg.trainer.get("devices", 1)))
    if cfg.torch_threads:
        torch.set_num_threads(int(cfg.torch_threads))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)


def build_data(cfg: DictConfig, record: RunRecord) -> tuple[Any, dict[str, Any] | None]:
    """The DataModule, set up for fitting, and the checkpoint to evaluate (``train=false``) whose
    tokenizer and label names it takes."""
    with record.timed("data_s"):
        dm = instantiate(cfg.data)
        checkpoint = None
        if not cfg.train:
            if not cfg.ckpt_path:
                raise ValueError("train=false needs ckpt_path=<checkpoint> to evaluate")
            checkpoint = load_checkpoint(cfg.ckpt_path)
            restore_data_state(dm, checkpoint)
        dm.setup("fit")
    record.fields["data"] = dm.summary
    return dm, checkpoint


def run(cfg: DictConfig, extra_callbacks: list[pl.Callback] | None = None) -> dict[str, Any]:
    """Train and/or test one configuration; returns the run record also written to ``run.json``.

    ``extra_callbacks`` are added to the configured callbacks (for programmatic use and tests).
    With ``skip_completed=true`` a run directory that already holds a completed run of the same
    configuration (``config_hash``) is not run again: its record is returned as it is.
    """
    run_dir = Path(cfg.paths.output_dir)
    digest = config_hash(cfg)
    rank = global_rank_from_env(cfg.trainer.get("devices", 1))
    earlier = reuse_run_dir(run_dir, digest, bool(cfg.get("skip_completed")), archive=rank == 0)
    if earlier is not None:  # every rank sees the same record, so all of them skip
        log.info("skipped: %s already holds a completed run of this configuration (hash %s)", run_dir, digest)
        return earlier
    attempts = begin_attempt(run_dir, digest, write=rank == 0)
    with RunRecord(cfg, run_dir, digest, attempts) as record, place_run(cfg, rank) as placement:
        record.fields["placement"] = placement  # the device slot(s) this run holds (None: no pool)
        prepare(cfg)
        dm, checkpoint = build_data(cfg, record)
        metrics: dict[str, float] = {}
        with build_fitter(cfg, dm, checkpoint, record, extra_callbacks) as fitter:
            if cfg.train:
                metrics.update(fitter.fit(dm))
            if cfg.test:
                metrics.update(fitter.test(dm))
            if cfg.get("analysis") is not None:  # analysis=[...]: faithfulness analyses of the tested model
                metrics.update(analyse_fitted(cfg, getattr(fitter, "model", None), dm, record))
        record.fields["metrics"] = dict(sorted(metrics.items()))
    return record.fields


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Console entry point; returns the best ``val/acc`` for Hydra sweepers that optimise it."""
    try:
        record = run(cfg)
    except DataError as err:  # bad data or no network: the message says what to fix; a traceback adds nothing
        log.error("%s: %s", type(err).__name__, err)
        raise SystemExit(1) from None
    return record["metrics"].get("val/acc")


if __name__ == "__main__":
    main()
