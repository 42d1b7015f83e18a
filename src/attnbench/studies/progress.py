"""How far a study has got, counted from the run records (``run.json``) in its sweep directory.

The parent process of a study reads the records the jobs write (``status``, ``pid``, ``started_at``,
``timings``) while the multirun runs, so the count works with every launcher: joblib, submitit, Ray, or
SLURM on a shared file system. A run counts as running from the moment its process takes the run
directory's lock (:mod:`attnbench.runtime.locks`), long before its ``run.json`` is written.
A record from before this call counts as completed when it completed
(the job will skip itself) and as pending otherwise (the job will run again).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.runtime.attempts import ATTEMPTS_FILE
from attnbench.runtime.locks import lock_holder
from attnbench.runtime.record import RUN_FILE
from attnbench.studies.study_file import Study


@dataclass(frozen=True)
class FinishedRun:
    """A run that ended during this call: its job directory (the label), status and table metric."""

    label: str
    status: str
    metric: str
    value: float | None
    ended_at: float

    def describe(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.3f}"
        return f"{self.label} {self.status}" + (f", {self.metric} {value}" if self.status == "completed" else "")


@dataclass
class Progress:
    """Counts of one study call at one moment; ``finished`` holds the runs ended during this call."""

    total: int
    completed: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    reused: int = 0
    elapsed_s: float = 0.0
    since: float = 0.0  # when this call began (epoch seconds)
    finished: list[FinishedRun] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.completed + self.failed

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace of this call so far (runs finished per second of wall time, which
        counts parallel jobs in), or None before a run has finished."""
        if not self.finished or self.elapsed_s <= 0:
            return None
        return (self.running + self.pending) * self.elapsed_s / len(self.finished)

    def at(self, i: int) -> Progress:
        """The counts as they stood when ``finished[i]`` ended (one line per run in a log)."""
        first = self.finished[: i + 1]
        completed = self.reused + sum(r.status == "completed" for r in first)
        failed = len(first) - (completed - self.reused)
        running = min(self.running, self.total - completed - failed)
        ended = first[-1].ended_at - self.since if self.since else self.elapsed_s
        return Progress(
            total=self.total,
            completed=completed,
            failed=failed,
            running=running,
            pending=self.total - completed - failed - running,
            reused=self.reused,
            elapsed_s=max(0.0, min(self.elapsed_s, ended)),
            since=self.since,
            finished=first,
        )

    @property
    def last(self) -> FinishedRun | None:
        return self.finished[-1] if self.finished else None

    def line(self) -> str:
        """``[5/8] 4 completed, 1 failed, 2 running, 1 pending · 40 s elapsed, ETA 25 s · last: …``"""
        eta = "ETA ?" if self.eta_s is None else f"ETA {format_seconds(self.eta_s)}"
        text = (
            f"[{self.done}/{self.total}] {self.completed} completed, {self.failed} failed, "
            f"{self.running} running, {self.pending} pending · {format_seconds(self.elapsed_s)} elapsed, {eta}"
        )
        return text + (f" · last: {self.last.describe()}" if self.last else "")


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def read_record(path: Path) -> dict[str, Any] | None:
    """A run.json, or None while it is missing or half-written by another process."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def pid_alive(pid: Any) -> bool:
    """Whether a process of this id runs on this machine (a job on another host counts as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def started_now(run_dir: Path, since: float, check_pids: bool) -> bool:
    """Whether a process is training ``run_dir`` now: it holds the run's lock (the OS drops the lock of a
    process that died), or, where locks are not shared (jobs on other hosts, ``check_pids=False``),
    its ``attempts.json`` has an attempt of this call still running."""
    if lock_holder(run_dir) is not None:
        return True
    if check_pids:
        return False
    attempts = (read_record(run_dir / ATTEMPTS_FILE) or {}).get("attempts") or [{}]
    last = attempts[-1] if isinstance(attempts[-1], dict) else {}
    return last.get("status") == "running" and float(last.get("start") or 0.0) >= since - 1.0


def scan(study: Study, sweep_dir: Path, since: float, now: float | None = None, check_pids: bool = True) -> Progress:
    """The study's progress from the records under ``sweep_dir``; ``since``: when this call began (epoch s).

    A record of this call still ``running`` whose process is gone (killed) counts as failed; with
    ``check_pids=False`` (jobs on other hosts, SLURM) it counts as running. Finished runs are ordered by
    their end (``started_at`` plus ``timings.total_s``)."""
    now = time.time() if now is None else now
    progress = Progress(total=study.num_runs, elapsed_s=max(0.0, now - since), since=since)
    metric = study.metrics[0]
    for job in study.expected_jobs():
        record = read_record(sweep_dir / job.dir_name / RUN_FILE)
        status = str(record.get("status", "failed")) if record else "missing"
        started = float(record.get("started_at") or 0.0) if record else 0.0
        this_call = record is not None and started >= since - 1.0
        if not this_call and started_now(sweep_dir / job.dir_name, since, check_pids):
            progress.running += 1  # its process has started it; run.json comes at its end
        elif status == "completed" and not this_call:
            progress.completed += 1
            progress.reused += 1
        elif not this_call or record is None:
            progress.pending += 1
        elif status == "running" and (not check_pids or pid_alive(record.get("pid"))):
            progress.running += 1
        else:  # ended in this call; a record left "running" by a killed process counts as failed
            ok = status == "completed"
            progress.completed += ok
            progress.failed += not ok
            ended = started + float((record.get("timings") or {}).get("total_s") or 0.0)
            value = (record.get("metrics") or {}).get(metric)
            progress.finished.append(FinishedRun(job.dir_name, status if ok else "failed", metric, value, ended))
    progress.finished.sort(key=lambda r: r.ended_at)
    return progress
