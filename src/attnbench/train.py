"""One run: compose config → data → model → fit/test → ``run.json``.

``attnbench-train [overrides]`` (or ``python -m attnbench.train``) runs one configuration;
``attnbench-train -m encoder=bilstm,conv1d attention=none,additive`` sweeps a grid.

Importing this module loads Hydra and the config schema only: torch, Lightning, the data stack and
the models load when a run starts (:func:`run`), so ``attnbench-train --help``, a config error and a
multirun's launcher process (whose jobs run in workers or child processes) start in about a second
instead of the 6–9 s those imports take on 2 CPU cores (Lightning pulls in torchmetrics, SciPy and
matplotlib).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from attnbench.cli.help import answer_help
from attnbench.config import ConfigKeyError, config_dir, config_hash, register_configs, validate
from attnbench.runtime.locks import RunLock, RunLocked
from attnbench.runtime.record import RUN_FILE, read_run_record

if TYPE_CHECKING:
    import pytorch_lightning as pl

    from attnbench.runtime.resume import ResumePoint
    from attnbench.runtime.run_record import RunRecord

log = logging.getLogger(__name__)

register_configs()


def prepare(cfg: DictConfig) -> dict[str, Any]:
    """Check the config, then set what the whole process shares: the rank, threads, the CPU's handling
    of subnormal floats and the seeds. Returns the numeric settings in force (the run record's
    ``numerics``)."""
    import pytorch_lightning as pl

    from attnbench.runtime.distributed import global_rank_from_env, set_process_rank
    from attnbench.runtime.numerics import set_numerics

    validate(cfg)
    # loggers are built before the Trainer knows the rank: only rank 0 may start a W&B run
    set_process_rank(global_rank_from_env(cfg.trainer.get("devices", 1)))
    numerics = set_numerics(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    return numerics


def build_data(cfg: DictConfig, record: RunRecord, start: ResumePoint) -> tuple[Any, dict[str, Any] | None]:
    """The DataModule, set up for fitting, and the checkpoint to evaluate (``train=false``). The data
    are encoded with the tokenizer and label names of the checkpoint evaluated or resumed (``start``),
    the ones its weights were trained with, not a freshly fit one."""
    from hydra.utils import instantiate

    from attnbench.runtime.checkpoints import load_checkpoint, restore_data_state

    with record.timed("data_s"):
        dm = instantiate(cfg.data)
        checkpoint = None
        if not cfg.train:
            if not cfg.ckpt_path:
                raise ValueError("train=false needs ckpt_path=<checkpoint> to evaluate")
            checkpoint = load_checkpoint(cfg.ckpt_path)
            restore_data_state(dm, checkpoint)
        elif start.checkpoint is not None:
            restore_data_state(dm, start.checkpoint)
        dm.setup("fit")
    record.fields["data"] = dm.summary
    return dm, checkpoint


def run(cfg: DictConfig, extra_callbacks: list[pl.Callback] | None = None) -> dict[str, Any]:
    """Train and/or test one configuration; returns the run record also written to ``run.json``.

    ``extra_callbacks`` are added to the configured callbacks (for programmatic use and tests).
    With ``skip_completed=true`` a run directory that already holds a completed run of the same
    configuration (``config_hash``) is not run again: its record is returned as it is.

    The run directory is this process's alone while it runs (its lock, :mod:`attnbench.runtime.locks`):
    held by another live process, it is left untouched and this run fails at once naming that process
    (:class:`RunLocked`), or with ``on_locked=wait`` waits for it to end and then decides as above.
    """
    from attnbench.runtime.distributed import global_rank_from_env

    run_dir = Path(cfg.paths.output_dir)
    rank = global_rank_from_env(cfg.trainer.get("devices", 1))
    lock = RunLock(run_dir)
    if cfg.get("on_locked", "fail") not in ("fail", "wait"):
        raise ValueError(f"on_locked={cfg.on_locked!r}: use fail (stop at once) or wait (for the other process)")
    asked = time.time()
    if rank == 0:  # the other ranks of a DDP run are started by rank 0, which holds the lock for them
        lock.acquire(wait=cfg.get("on_locked") == "wait")
    with lock:
        digest = config_hash(cfg)
        ended = ended_since(run_dir, digest, asked) if lock.waited_for is not None else None
        if ended is not None:  # the process waited for ran this very run: its record is the result
            log.info("%s ran this run while this process waited (%s): its record is used", run_dir, ended["status"])
            return ended
        return run_in(cfg, run_dir, digest, rank, extra_callbacks)


def ended_since(run_dir: Path, digest: str, since: float) -> dict[str, Any] | None:
    """The run record of ``run_dir`` when it has this config hash and ended after ``since``."""
    try:
        record = read_run_record(run_dir / RUN_FILE)
    except (OSError, ValueError):
        return None
    ok = record.get("config_hash") == digest and float(record.get("finished_at") or 0.0) >= since
    return record if ok else None


def run_in(
    cfg: DictConfig, run_dir: Path, digest: str, rank: int, extra_callbacks: list[pl.Callback] | None
) -> dict[str, Any]:
    """:func:`run` once ``run_dir`` is this process's."""
    from attnbench.analysis.checkpoint import analyse_fitted
    from attnbench.fitters import build_fitter
    from attnbench.runtime.attempts import begin_attempt
    from attnbench.runtime.guards import check_finite_metrics
    from attnbench.runtime.placement import place_run
    from attnbench.runtime.resume import find_resume
    from attnbench.runtime.run_record import RunRecord, reuse_run_dir

    earlier = reuse_run_dir(run_dir, digest, bool(cfg.get("skip_completed")), archive=rank == 0)
    if earlier is not None:  # every rank sees the same record, so all of them skip
        log.info("skipped: %s already holds a completed run of this configuration (hash %s)", run_dir, digest)
        return earlier
    attempts = begin_attempt(run_dir, digest, write=rank == 0)
    with RunRecord(cfg, run_dir, digest, attempts) as record, place_run(cfg, rank) as placement:
        record.fields["placement"] = placement  # the device slot(s) this run holds (None: no pool)
        record.fields["numerics"] = prepare(cfg)
        start = find_resume(cfg, move=rank == 0)
        if start.path is not None or start.set_aside:
            resumed = str(start.path.resolve()) if start.path else None
            record.fields.update(resumed_from=resumed, set_aside=start.set_aside)
            attempts.update(resumed_from=resumed, set_aside=start.set_aside)
        dm, checkpoint = build_data(cfg, record, start)
        metrics: dict[str, float] = {}
        with build_fitter(cfg, dm, checkpoint, record, extra_callbacks, start) as fitter:
            if cfg.train:
                metrics.update(fitter.fit(dm))
            if cfg.test:
                metrics.update(fitter.test(dm))
            # only finite evaluation metrics go on record; a non-finite one fails the run, named in its error
            record.fields["metrics"] = dict(sorted((k, v) for k, v in metrics.items() if math.isfinite(v)))
            check_finite_metrics(metrics)
            if cfg.get("analysis") is not None:  # analysis=[...]: faithfulness analyses of the tested model
                metrics.update(analyse_fitted(cfg, getattr(fitter, "model", None), dm, record))
        record.fields["metrics"] = dict(sorted(metrics.items()))
    return record.fields


def fixable() -> tuple[type[Exception], ...]:
    """Errors whose message names the cause and the fix (their modules are loaded by then: :func:`run`
    imports them)."""
    from attnbench.data.sources import DataError
    from attnbench.runtime.checkpoints import CheckpointMismatchError
    from attnbench.runtime.guards import DivergenceError
    from attnbench.runtime.resume import MidEpochCheckpointError

    return (DataError, DivergenceError, RunLocked, MidEpochCheckpointError, CheckpointMismatchError, ConfigKeyError)


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Console entry point; returns the best ``val/acc`` for Hydra sweepers that optimise it."""
    try:
        record = run(cfg)
    # bad data, no network, a bad key, a divergence, a locked run: the message says what to fix
    except Exception as err:
        if not isinstance(err, fixable()):  # run() has imported their modules by now
            raise
        log.error("%s: %s", type(err).__name__, err)
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra marks this job failed and the sweep goes on; SystemExit would end the whole sweep
        raise SystemExit(1) from None
    from attnbench.cli.summary import print_run_summary
    from attnbench.runtime.distributed import process_rank

    if process_rank() == 0 and HydraConfig.get().mode == RunMode.RUN:  # a sweep's jobs: the study's table
        print_run_summary(record)
    return record["metrics"].get("val/acc")


def cli() -> None:
    """Console entry point (``attnbench-train``, ``python -m attnbench.train``): a bare ``--help`` is
    answered without Hydra's slow listing of every group (:mod:`attnbench.cli.help`), the rest by Hydra."""
    if not answer_help(sys.argv, "config"):
        main()


if __name__ == "__main__":
    cli()
