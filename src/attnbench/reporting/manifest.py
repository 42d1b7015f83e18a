"""What a results directory records about how it was made (``MANIFEST``), and how earlier results in
it are kept (moved to ``.previous/<time>/``, never overwritten)."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from attnbench.record import environment, git_sha
from attnbench.reporting.records import Record
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table


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
        "runs_ignored": f"{ignored} (run.json files under the sweep dir that are not jobs of this study)",
        "run_time_sum_s": f"{sum((r.get('timings') or {}).get('total_s', 0.0) for r in records):.1f}",
        # the code each run ran with (a report made later may run on a newer commit)
        "run_git_shas": ", ".join(
            f"{sha} ({n} runs)" for sha, n in sorted(Counter(str(r.get("git_sha")) for r in records).items())
        ),
        **{f"sweep_{k}": v for k, v in run_info.items() if k not in ("failed", "wall_s")},
    }


def keep_previous(out: Path, names: list[str]) -> Path | None:
    """Move existing result files to ``out/.previous/<time>/`` so nothing is silently overwritten."""
    existing = [out / n for n in names if (out / n).exists()]
    if not existing:
        return None
    backup = out / ".previous" / time.strftime("%Y%m%d-%H%M%S")
    backup.mkdir(parents=True, exist_ok=True)
    for p in existing:
        shutil.move(str(p), backup / p.name)
    return backup
