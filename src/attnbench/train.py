"""One run: compose config → data → model → Lightning Trainer → fit/test → ``run.json``.

``attnbench-train [overrides]`` (or ``python -m attnbench.train``) runs one configuration;
``attnbench-train -m encoder=bilstm,conv1d attention=none,additive`` sweeps a grid.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from attnbench.baselines import fit_and_evaluate, is_classical
from attnbench.checkpoints import check_compatible, load_checkpoint, load_weights, restore_data_state
from attnbench.config import config_dir, config_hash, register_configs, validate
from attnbench.data.sources import DataError
from attnbench.distributed import build_strategy, end_distributed, global_rank_from_env
from attnbench.models import count_parameters
from attnbench.record import RUN_FILE, environment, git_sha, read_run_record, write_run_record

log = logging.getLogger(__name__)

register_configs()


def build_loggers(cfg: DictConfig | None) -> list[Logger]:
    return [instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]


def build_callbacks(cfg: DictConfig | None, has_logger: bool) -> list[pl.Callback]:
    callbacks = []
    for name, c in (cfg or {}).items():
        if c is None or "_target_" not in c:
            continue
        if name == "lr_monitor" and not has_logger:
            log.warning("callbacks.lr_monitor needs a logger; skipped because logger=none")
            continue
        callbacks.append(instantiate(c))
    return callbacks


def _metric(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def _summarize_loggers(loggers: list[Logger], summary: dict[str, float], step: int, status: str) -> None:
    """Put the run.json summary in every logger, then close them (one W&B run per job)."""
    for lg in loggers:
        try:
            if isinstance(lg, WandbLogger):
                lg.experiment.summary.update(summary)
            else:
                lg.log_metrics(summary, step=step)
            lg.finalize(status)
        finally:
            if isinstance(lg, WandbLogger):
                lg.experiment.finish(exit_code=0 if status == "success" else 1)


def _numbers(d: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric leaves of a nested dict, flattened to ``prefix + a/b`` keys (for loggers)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}/"))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def resume_checkpoint(cfg: DictConfig, callbacks: list[pl.Callback], model: pl.LightningModule) -> str | None:
    """The checkpoint ``fit`` starts from: ``ckpt_path`` when given, else (``resume=true``) the
    ``last.ckpt`` already in the run's checkpoint directory, else None (a fresh start).

    The run directory holds a ``last.ckpt`` only when it is reused: ``hydra.run.dir=<fixed dir>``
    run again, a SLURM job requeued into its sweep directory. A checkpoint of another model
    configuration fails with the differing keys instead of being loaded.
    """
    if cfg.ckpt_path or not cfg.resume:
        return cfg.ckpt_path
    for cb in callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.save_last and cb.dirpath:
            last = Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
            if last.is_file():
                check_compatible(model, load_checkpoint(last), last, hint="or resume=false to start afresh")
                log.info("resuming from %s (resume=true; resume=false starts afresh)", last)
                return str(last)
    return None


def _hydra_job() -> dict[str, Any]:
    """This job's Hydra overrides and group choices (empty outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    return {"overrides": list(hc.overrides.task), "choices": dict(hc.runtime.choices)}


def _safe_hash(config: dict[str, Any]) -> str | None:
    try:
        return config_hash(config)
    except Exception:  # a record this code cannot read: treated as another configuration
        return None


def reuse_run_dir(run_dir: Path, digest: str, skip_completed: bool, archive: bool = True) -> dict[str, Any] | None:
    """Look at what a reused run directory already holds.

    Returns the earlier record when it completed with the same config hash and ``skip_completed`` is
    set (the run is not repeated). When the earlier record has another config hash, its run records
    and checkpoints move to ``.previous/<time>/`` first (by rank 0 only: ``archive``), so ``resume``
    never continues a checkpoint of another configuration and nothing is overwritten.
    """
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    try:
        earlier = read_run_record(path)
    except (OSError, ValueError):
        earlier = {}
    # the stored config is hashed again by this version of the code: a record from older code (another
    # hash function, fewer settings) still matches when it ran the same thing
    same = earlier.get("config_hash") == digest or (
        isinstance(earlier.get("config"), dict) and _safe_hash(earlier["config"]) == digest)
    if same and skip_completed and earlier.get("status") == "completed":
        return earlier
    if not same and archive:
        backup = run_dir / ".previous" / time.strftime("%Y%m%d-%H%M%S")
        backup.mkdir(parents=True, exist_ok=True)
        for p in [*run_dir.glob("run*.json"), run_dir / "checkpoints"]:
            if p.exists():
                p.rename(backup / p.name)
        log.warning("%s held a run of another configuration (hash %s, now %s): moved to %s",
                    run_dir, earlier.get("config_hash"), digest, backup)
    return None


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
    resolved = OmegaConf.to_container(cfg, resolve=True)
    record: dict[str, Any] = {
        "status": "running", "config": resolved, "config_hash": digest, **_hydra_job(), "metrics": {},
        "timings": {}, "params": None, "checkpoint": None, "run_dir": str(run_dir), "env": environment(),
        "git_sha": git_sha(), "pid": os.getpid(), "started_at": time.time(),
    }
    loggers: list[Logger] = []
    trainer: pl.Trainer | None = None
    started = time.perf_counter()
    try:
        validate(cfg)
        # loggers are built before the Trainer knows the rank: only rank 0 may start a W&B run
        rank_zero_only.rank = global_rank_from_env(cfg.trainer.get("devices", 1))
        if cfg.torch_threads:
            torch.set_num_threads(int(cfg.torch_threads))
        pl.seed_everything(cfg.seed, workers=True, verbose=False)

        t0 = time.perf_counter()
        dm = instantiate(cfg.data)
        checkpoint = None
        if not cfg.train:
            if not cfg.ckpt_path:
                raise ValueError("train=false needs ckpt_path=<checkpoint> to evaluate")
            checkpoint = load_checkpoint(cfg.ckpt_path)
            restore_data_state(dm, checkpoint)
        dm.setup("fit")
        record["timings"]["data_s"] = time.perf_counter() - t0
        record["data"] = dm.summary

        if is_classical(cfg.model):  # ---- a scikit-learn baseline: no Trainer, no checkpoint ----
            if not cfg.train:
                raise ValueError(f"{cfg.model._target_} keeps no checkpoint to evaluate; run it with train=true")
            loggers = build_loggers(cfg.get("logger"))
            for lg in loggers:
                lg.log_hyperparams(resolved)
            result = fit_and_evaluate(instantiate(cfg.model, seed=cfg.seed), dm, test=cfg.test)
            record.update(metrics=result["metrics"], params=result["params"], features=result["features"])
            record["timings"].update(result["timings"])
            record["status"] = "completed"
            return record  # `finally` below writes run.json and gives the loggers the summary
        # ---- a neural model: Lightning ----

        model = instantiate(cfg.model, vocab_size=dm.vocab_size, num_classes=dm.num_classes, **dm.model_kwargs())
        if dm.embeddings is not None and checkpoint is None:  # a checkpoint's weights hold the vectors already
            model.load_pretrained_embeddings(dm.embeddings)
        if checkpoint is not None:
            load_weights(model, checkpoint, cfg.ckpt_path)
            record["checkpoint"] = str(Path(cfg.ckpt_path).resolve())
        record["params"] = count_parameters(model)

        loggers = build_loggers(cfg.get("logger"))
        callbacks = build_callbacks(cfg.get("callbacks"), has_logger=bool(loggers)) + list(extra_callbacks or [])
        trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
        # strategy=ddp: Lightning's DDP with a launcher that keeps each Hydra job in its own directory
        trainer_args["strategy"] = build_strategy(trainer_args.get("strategy", "auto"), log_stem=cfg.task_name)
        trainer = pl.Trainer(
            **trainer_args,
            logger=loggers or False,
            callbacks=callbacks,
            # no ModelCheckpoint configured (callbacks=none) means no checkpoints, not Lightning's default one
            enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
            default_root_dir=str(run_dir),
        )
        for lg in loggers:
            lg.log_hyperparams(resolved)

        metrics: dict[str, float] = {}
        if cfg.train:
            start_from = resume_checkpoint(cfg, callbacks, model)
            if start_from and not cfg.ckpt_path:
                record["resumed_from"] = str(Path(start_from).resolve())
            t0 = time.perf_counter()
            trainer.fit(model, datamodule=dm, ckpt_path=start_from, weights_only=True)
            record["timings"]["fit_s"] = time.perf_counter() - t0
            record["epochs"] = trainer.current_epoch
            ckpt_cb = trainer.checkpoint_callback
            if ckpt_cb is not None and ckpt_cb.best_model_path:
                record["checkpoint"] = str(Path(ckpt_cb.best_model_path).resolve())
                # val metrics of the checkpoint that is tested, not of the last epoch
                trainer.validate(model, datamodule=dm, ckpt_path=record["checkpoint"], weights_only=True,
                                 verbose=False)
            metrics.update({k: _metric(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
        if cfg.test:
            t0 = time.perf_counter()
            best = record["checkpoint"] if cfg.train else None
            trainer.test(model, datamodule=dm, ckpt_path=best, weights_only=True, verbose=False)
            record["timings"]["test_s"] = time.perf_counter() - t0
            metrics.update({k: _metric(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        record["metrics"] = dict(sorted(metrics.items()))
        record["status"] = "completed"
    except BaseException as err:
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
        raise
    finally:
        if trainer is not None:  # wait for the other ranks, close the process group: the next run starts clean
            end_distributed(trainer.strategy)
        record["timings"]["total_s"] = time.perf_counter() - started
        record["finished_at"] = time.time()
        if rank_zero_only.rank == 0:
            path = write_run_record(run_dir, record)
            log.info("run record: %s", path)
            summary = {**record["metrics"], "params": record["params"] or 0,
                       **{f"timings/{k}": v for k, v in record["timings"].items()},
                       **_numbers(record.get("data") or {}, "data/")}
            status = "success" if record["status"] == "completed" else "failed"
            try:
                _summarize_loggers(loggers, summary, trainer.global_step if trainer else 0, status)
            except Exception:
                if status == "success":
                    raise
                log.exception("closing the loggers failed too (after the run's own error, raised below)")
    return record


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
