"""What a results directory records about how it was made (``MANIFEST``), and how earlier results in
it are kept (in ``.previous/<time>/``, never overwritten): a report is written to a staging folder and
moved in file by file, one rename each."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from attnbench.reporting.records import Record
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table
from attnbench.runtime.record import environment, git_sha


def manifest(command: str, wall_s: float, extra: dict[str, Any] | None = None) -> str:
    """``key: value`` lines: the command, the code's git sha, the date, the wall time, the machine and
    package versions, then ``extra``."""
    env = environment()
    lines = [
        f"command: {command}",
        f"git_sha: {git_sha()}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"wall_time_s: {wall_s:.1f}",
        *[f"{k}: {v}" for k, v in env.items()],
        *[f"{k}: {v}" for k, v in (extra or {}).items()],
    ]
    return "\n".join(lines) + "\n"


def run_fields(
    records: list[Record],
    table: Table,
    study: StudySpec | None,
    sweep_dirs: list[Path],
    ignored: int,
    run_info: dict[str, Any],
) -> dict[str, Any]:
    """The MANIFEST lines about the runs a report aggregated: counts, run time, the code they ran."""
    missing = sum(len(c.failed) for c in table.cells.values() if any("no run.json" in f for f in c.failed))
    return {
        "study": study.name if study else "(ad hoc)",
        "study_file": str(study.path) if study else "",
        "sweep_dirs": " ".join(map(str, sweep_dirs)),
        "runs_completed": sum(r.get("status") == "completed" for r in records),
        "runs_failed": sum(r.get("status") != "completed" for r in records),
        "runs_missing": missing,
        "variants_left_out": ", ".join(getattr(study, "left_out", None) or []) or "none",
        "runs_ignored": f"{ignored} (run.json files under the sweep dir that are not jobs of this study)",
        "run_time_sum_s": f"{sum((r.get('timings') or {}).get('total_s', 0.0) for r in records):.1f}",
        # the code each run ran with (a report made later may run on a newer commit)
        "run_git_shas": ", ".join(
            f"{sha} ({n} runs)" for sha, n in sorted(Counter(str(r.get("git_sha")) for r in records).items())
        ),
        "runs_per_device": placement_summary(records),
        **{f"sweep_{k}": v for k, v in run_info.items() if k not in ("failed", "wall_s")},
    }


def placement_summary(records: list[Record]) -> str:
    """How many runs each device of the device pool ran, from the runs' ``placement`` (run.json):
    ``host:0 4, host:1 4 (at most K=2 at once)``; ``not placed`` when no run used the pool."""
    placed = [r["placement"] for r in records if r.get("placement")]
    if not placed:
        return "not placed"
    counts = Counter(f"{p.get('host')}:{d}" for p in placed for d in p.get("devices", []))
    most = max(int(p.get("runs_per_device", 1)) for p in placed)
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) + f" (at most K={most} at once)"


def staging_dir(out: Path) -> Path:
    """A fresh ``out/.staging-<pid>/`` for a report's files; what a killed report left there is removed."""
    for left in out.glob(".staging-*"):
        shutil.rmtree(left, ignore_errors=True)
    stage = out / f".staging-{os.getpid()}"
    stage.mkdir(parents=True)
    return stage


def _backup_dir(out: Path) -> Path:
    backup = out / ".previous" / time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while backup.exists():  # two reports in one second
        backup, n = backup.with_name(f"{backup.name.split('.')[0]}.{n}"), n + 1
    backup.mkdir(parents=True)
    return backup


def publish(stage: Path, out: Path, names: list[str]) -> Path | None:
    """Move the result files written to ``stage`` into ``out``, one rename each, so a report killed at
    any moment leaves every file in ``out`` whole (the earlier one or the new one, never a mix).

    Earlier files are kept in ``out/.previous/<time>/`` (a hard link made before the rename replaces
    them), and earlier files this report did not write again move there. Returns that folder, if any.
    """
    backup = _backup_dir(out) if any((out / n).exists() for n in names) else None
    for name in names:
        new, old = stage / name, out / name
        if backup is not None and old.is_file():
            try:
                os.link(old, backup / name)
            except OSError:  # a file system without hard links
                shutil.copy2(old, backup / name)
        elif backup is not None and old.is_dir():  # heatmaps/: a folder cannot be replaced by one rename
            old.rename(backup / name)
        if new.exists():
            os.replace(new, old)
        elif old.is_file():
            old.unlink()  # not written again: its copy in .previous/ remains
    shutil.rmtree(stage, ignore_errors=True)
    return backup
