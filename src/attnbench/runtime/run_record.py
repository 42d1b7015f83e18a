"""Record keeping of one run: :class:`RunRecord` is the ``run.json`` being filled while the run goes
(status, timings, metrics) and, as a context manager, writes it and gives every logger the same summary
however the run ends (as lightning-hydra-template's ``task_wrapper`` does). :func:`reuse_run_dir` decides
what an existing run directory means for a new run."""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, WandbLogger

from attnbench.config import config_hash
from attnbench.runtime.attempts import ATTEMPTS_FILE, Attempts
from attnbench.runtime.distributed import process_rank
from attnbench.runtime.record import RUN_FILE, environment, git_sha, read_run_record, write_run_record
from attnbench.runtime.throughput import peak_memory

log = logging.getLogger(__name__)


def _hydra_job() -> dict[str, Any]:
    """This job's Hydra overrides and group choices (empty outside a Hydra run)."""
    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    return {"overrides": list(hc.overrides.task), "choices": dict(hc.runtime.choices)}


def _numbers(d: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric leaves of a nested dict, flattened to ``prefix + a/b`` keys (for loggers)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}/"))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def summarize_loggers(loggers: list[Logger], summary: dict[str, float], step: int, status: str) -> None:
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
                finish_wandb_run(lg.experiment, exit_code=0 if status == "success" else 1)


def finish_wandb_run(run: Any, exit_code: int) -> None:
    """``run.finish`` bounded by the run's ``finish_timeout`` (``logger.wandb.finish_timeout``): a network
    that slows at the end never hangs the job. When the wait ran out, the log says what was not
    uploaded and how to send it later (everything stays on disk)."""
    limit = float(getattr(run.settings, "finish_timeout", 0.0) or 0.0)
    started = time.perf_counter()
    online = not getattr(run.settings, "_offline", True)
    run_dir = Path(run.dir).parent if getattr(run, "dir", None) else None
    run.finish(exit_code=exit_code)
    if online and limit > 0 and time.perf_counter() - started >= limit:
        log.warning(
            "W&B: the upload did not finish within logger.wandb.finish_timeout=%gs; what was not sent is "
            "in %s: upload it with `wandb sync %s`",
            limit,
            run_dir,
            run_dir,
        )


class RunRecord:
    """The record of one run, written to ``<run_dir>/run.json`` when the ``with`` block ends.

    ``fields`` is the record itself (the dict ``run`` returns). Whoever fits the model sets
    :attr:`loggers` (they get the summary and are closed) and :attr:`step` (the step it is logged at).
    Leaving the block by an exception marks the run ``failed`` with the error and its traceback, writes
    the record all the same (rank 0 only) and lets the exception through. ``attempts`` (this run's
    starts in the run directory, :mod:`attnbench.runtime.attempts`) gives the ``run_id`` and the ``attempts`` list.
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, digest: str, attempts: Attempts | None = None) -> None:
        self.run_dir = run_dir
        self.attempts = attempts
        self.fields: dict[str, Any] = {
            "status": "running", "config": OmegaConf.to_container(cfg, resolve=True), "config_hash": digest,
            **_hydra_job(), "metrics": {}, "timings": {}, "memory": {}, "params": None, "checkpoint": None,
            "run_dir": str(run_dir), "env": environment(), "git_sha": git_sha(), "pid": os.getpid(),
            "started_at": time.time(), "run_id": attempts.run_id if attempts else None,
        }  # fmt: skip
        self.loggers: list[Logger] = []
        self.step = 0
        self._started = 0.0

    @property
    def config(self) -> dict[str, Any]:
        """The resolved configuration."""
        return self.fields["config"]

    @property
    def logged_config(self) -> dict[str, Any]:
        """What every logger gets as hyperparameters: the resolved configuration plus ``choices``, the
        option Hydra chose in each group (``choices.data = bbc_news``), so a dashboard can plot against a
        group by its option's name rather than by the whole resolved group."""
        return {**self.fields["config"], "choices": dict(self.fields.get("choices") or {})}

    @property
    def timings(self) -> dict[str, float]:
        return self.fields["timings"]

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Seconds spent in the block, as ``timings[key]`` (only when the block completes)."""
        t0 = time.perf_counter()
        yield
        self.timings[key] = time.perf_counter() - t0

    def __enter__(self) -> RunRecord:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.fields["status"] = "completed"
        else:
            self.fields["status"] = "failed"
            self.fields["error"] = f"{type(exc).__name__}: {exc}"
            self.fields["traceback"] = "".join(traceback.format_exception(exc_type, exc, tb))
        self.timings["total_s"] = time.perf_counter() - self._started
        self.fields["memory"] = peak_memory()
        self.fields["finished_at"] = time.time()
        if self.attempts is not None:
            self.attempts.update(end=self.fields["finished_at"], status=self.fields["status"])
            self.fields["attempts"] = self.attempts.attempts
        if process_rank() == 0:
            self._write_and_summarize(failed=exc is not None)

    def _write_and_summarize(self, failed: bool) -> None:
        path = write_run_record(self.run_dir, self.fields)
        log.info("run record: %s", path)
        f = self.fields
        summary = {
            **f["metrics"], "params": f["params"] or 0, **{f"timings/{k}": v for k, v in f["timings"].items()},
            **{f"memory/{k}": v for k, v in f["memory"].items()},
            **_numbers(f.get("data") or {}, "data/"),
        }  # fmt: skip
        try:
            summarize_loggers(self.loggers, summary, self.step, "failed" if failed else "success")
        except Exception:
            if not failed:
                raise
            log.exception("closing the loggers failed too (after the run's own error, raised below)")


def _safe_hash(config: dict[str, Any]) -> str | None:
    try:
        return config_hash(config)
    except Exception:  # a record this code cannot read: treated as another configuration
        return None


def reuse_run_dir(run_dir: Path, digest: str, skip_completed: bool, archive: bool = True) -> dict[str, Any] | None:
    """Look at what a reused run directory already holds.

    Returns the earlier record when it completed with the same config hash and ``skip_completed`` is
    set (the run is not repeated). When the earlier record (``run.json``, or for a run killed before
    writing it, ``attempts.json``) has another config hash, its run records, attempts and checkpoints
    move to ``.previous/<time>/`` first (by rank 0 only: ``archive``), so ``resume``
    never continues a checkpoint of another configuration and nothing is overwritten.
    """
    path = run_dir / RUN_FILE
    if not path.is_file():  # a run killed before its record: its attempts.json holds its config hash
        path = run_dir / ATTEMPTS_FILE
        if not path.is_file():
            return None
    try:
        earlier = read_run_record(path)
    except (OSError, ValueError):
        earlier = {}
    # the stored config is hashed again by this version of the code: a record from older code (another
    # hash function, fewer settings) still matches when it ran the same thing
    same = earlier.get("config_hash") == digest or (
        isinstance(earlier.get("config"), dict) and _safe_hash(earlier["config"]) == digest
    )
    if same and skip_completed and earlier.get("status") == "completed":
        return earlier
    if not same and archive:
        backup = run_dir / ".previous" / time.strftime("%Y%m%d-%H%M%S")
        backup.mkdir(parents=True, exist_ok=True)
        for p in [*run_dir.glob("run*.json"), *run_dir.glob("attempts*.json"), run_dir / "checkpoints"]:
            if p.exists():
                p.rename(backup / p.name)
        log.warning(
            "%s held a run of another configuration (hash %s, now %s): moved to %s",
            run_dir, earlier.get("config_hash"), digest, backup,
        )  # fmt: skip
    return None
