"""The last lines a command prints: what it measured and where it wrote (``attnbench-train``,
``attnbench-eval``, ``attnbench-analyze``). Plain text on stdout, so a log or a pipe keeps it whole."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, TextIO

from attnbench.runtime.record import RUN_FILE


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.4f}" if isinstance(value, float) and not float(value).is_integer() else f"{value:g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    """Aligned columns: the first ``text_columns`` to the left, the numbers after them to the right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [
            c.ljust(w) if i < text_columns else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  " + "  ".join(cells).rstrip()

    return [line(header), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def metrics_table(metrics: dict[str, float]) -> list[str]:
    """A row per metric, a column per split (``val``, ``test``); per-length keys (``acc@len=5``) and other
    prefixes are left out: they stay in the record."""
    splits = [s for s in ("val", "test") if any(k.startswith(f"{s}/") for k in metrics)]
    names = sorted({k.split("/", 1)[1] for k in metrics if k.split("/", 1)[0] in splits and "@" not in k})
    rows = [[name, *(_number(metrics.get(f"{s}/{name}")) for s in splits)] for name in names]
    return _table(["metric", *splits], rows) if rows else ["  (no validation or test metrics)"]


def print_run_summary(record: dict[str, Any], out: TextIO | None = None) -> None:
    """The run's validation and test metrics, the checkpoint tested and the record's path."""
    out = out or sys.stdout
    lines = [f"run {record.get('status', '?')}: {record.get('run_dir', '')}", *metrics_table(record["metrics"])]
    lines.append(f"checkpoint: {record.get('checkpoint') or 'none (no checkpoint kept)'}")
    lines.append(f"record:     {Path(record.get('run_dir', '.')) / RUN_FILE}")
    print("\n".join(lines), file=out, flush=True)


def analysis_table(summary: dict[str, float]) -> list[str]:
    """A row per statistic of each analysis (``analysis/<name>/<statistic>``)."""
    rows = []
    for key in sorted(summary):
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "analysis":
            rows.append([parts[1], parts[2], _number(summary[key])])
    return _table(["analysis", "statistic", "value"], rows, text_columns=2) if rows else ["  (no summary statistics)"]


def print_analysis_summary(
    summary: dict[str, float], written: list[Path], record: Path, earlier: Path | None, out: TextIO | None = None
) -> None:
    """What ``attnbench-analyze`` measured, the files it wrote and where the results went in the record."""
    out = out or sys.stdout
    lines = ["analysis summary:", *analysis_table(summary), "wrote:"]
    lines += [f"  {p}" for p in written] or ["  (no files)"]
    if earlier is None:
        lines.append(f"record: {record} (new)")
    else:
        lines.append(f"record: added the results to {record}; the earlier record is kept as {earlier}")
    print("\n".join(lines), file=out, flush=True)
