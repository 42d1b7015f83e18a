"""The attempts of one run: every start in the same run directory (a re-run of the same command, a
SLURM requeue, a resumed study job) of the same configuration is an attempt of one run, with one run
id across them (the W&B run id). ``<run_dir>/attempts.json`` is written at each attempt's start,
so an attempt killed before it could write ``run.json`` is still on record; ``run.json`` gets the list.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.runtime.locks import LOCK_FILE
from attnbench.runtime.record import read_run_record, write_json_atomic

# not "run*.json" (the run records, one per run dir, rank 0's alone); a run directory reused by another
# configuration archives it beside them (attnbench.runtime.run_record.reuse_run_dir)
ATTEMPTS_FILE = "attempts.json"


def _last_write(run_dir: Path) -> float | None:
    """When anything in the run directory (train.log, checkpoints, logger files) was last written: the
    end of an attempt that was killed, to within a log line."""
    # not the lock file: the process that reads this has just written it
    times = [
        p.stat().st_mtime
        for p in run_dir.rglob("*")
        if p.is_file() and ".previous" not in p.parts and p.name != LOCK_FILE
    ]
    return max(times) if times else None


@dataclass
class Attempts:
    """The run id and the attempts so far; the last one is this process's."""

    path: Path
    config_hash: str
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    attempts: list[dict[str, Any]] = field(default_factory=list)
    write: bool = True  # rank 0 only

    @property
    def current(self) -> dict[str, Any]:
        return self.attempts[-1]

    def update(self, **fields: Any) -> None:
        """Set fields of the current attempt (``resumed_from``, ``end``, ``status``) and save."""
        self.current.update(fields)
        self.save()

    def save(self) -> None:
        if self.write:
            payload = {"run_id": self.run_id, "config_hash": self.config_hash, "attempts": self.attempts}
            write_json_atomic(self.path, payload)


def begin_attempt(run_dir: Path, digest: str, write: bool = True) -> Attempts:
    """Record a new attempt of the run in ``run_dir``: the earlier attempts of the same configuration
    are kept (one that is still ``running`` was killed: it gets ``status: killed`` and the time of the
    run directory's last write as its ``end``); another configuration starts a new run id."""
    path = run_dir / ATTEMPTS_FILE
    try:
        earlier = read_run_record(path) if path.is_file() else {}
    except (OSError, ValueError):  # a file this code cannot read: a new run
        earlier = {"config_hash": None}
    if earlier.get("config_hash") == digest and earlier.get("run_id"):
        record = Attempts(path, digest, str(earlier["run_id"]), list(earlier.get("attempts") or []), write)
    else:
        record = Attempts(path, digest, write=write)
        if earlier and write:  # another run's attempts (not archived: resume=false): kept, never overwritten
            n = 1
            while (kept := run_dir / f"attempts.{n}.json").exists():
                n += 1
            os.replace(path, kept)
    for attempt in record.attempts:
        if attempt.get("status") == "running":
            attempt.update(status="killed", end=_last_write(run_dir))
    record.attempts.append(
        {"start": time.time(), "end": None, "status": "running", "resumed_from": None}
        | {"pid": os.getpid(), "host": socket.gethostname()}  # where it runs, for a progress display elsewhere
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    record.save()
    return record
