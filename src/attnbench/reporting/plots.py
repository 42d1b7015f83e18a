"""The study's plots: bars of the first metric per row, and the metric against a numeric grid key."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import Any

from attnbench.reporting.statistics import Cell, Table
from attnbench.runtime.record import atomic_path


def pyplot() -> ModuleType:
    # matplotlib loads only when a plot is drawn, and with a backend that needs no display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_plot(table: Table, path: Path) -> Path | None:
    """Horizontal bars of the first metric (mean, error bar = std); grouped by column when there is a grid."""
    plt = pyplot()
    cols = [c for c, _ in table.columns if table.metric_of[c] not in table.extra]
    cols = cols if table.column_key else cols[:1]
    rows = [(rid, label) for rid, label in table.rows if any(table.cells.get((rid, c), Cell()).n for c in cols)]
    if not rows:
        return None
    height = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.35 * len(rows) * max(1, len(cols) * 0.6)))
    for j, col in enumerate(cols):
        means = [table.cells.get((rid, col), Cell()).mean or 0.0 for rid, _ in rows]
        stds = [table.cells.get((rid, col), Cell()).std or 0.0 for rid, _ in rows]
        ys = [i + (j - (len(cols) - 1) / 2) * height for i in range(len(rows))]
        label = dict(table.columns)[col] if table.column_key else None
        ax.barh(ys, means, height=height, xerr=stds, capsize=3, label=label)
    ax.set_yticks(range(len(rows)), [label for _, label in rows])
    ax.invert_yaxis()
    metric = table.metric_of[cols[0]]
    name = table.label(metric)
    xlabel = f"{name} (mean ± std over seeds)"
    lows = [
        (c.mean or 0.0) - (c.std or 0.0)
        for rid, _ in rows
        for col in cols
        if (c := table.cells.get((rid, col), Cell())).n
    ]
    if metric.endswith(("/acc", "/f1_macro")) and lows and min(lows) > 0.3:
        # close values: the axis starts near the lowest bar instead of 0, and says so
        start = max(0.0, math.floor((min(lows) - 0.05) * 20) / 20)
        ax.set_xlim(start, 1.005)
        xlabel += f"; axis starts at {start:.2f}"
    ax.set_xlabel(xlabel)
    fig.suptitle(table.title, fontsize="medium")
    if table.column_key:
        ax.legend(fontsize="small", loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def length_columns(table: Table) -> list[tuple[float, Any]]:
    """(x, column) pairs of a length plot: the numeric values of the column key, or, in a table of
    metric columns, those of the first metric per length, ``<metric>@len=<x>`` (seq2seq); else []."""
    if table.column_key:
        try:
            return [(float(c), c) for c, _ in table.columns]
        except (TypeError, ValueError):
            return []
    by_length = [(c, str(c).partition("@len=")) for c, _ in table.columns]
    first = next((parts[0] for _, parts in by_length if parts[1]), None)
    return [(float(x), c) for c, (m, sep, x) in by_length if sep and m == first and x.replace(".", "", 1).isdigit()]


def length_plot(table: Table, path: Path) -> Path | None:
    """The first metric against the (numeric) column key, or against the lengths of ``@len=`` metric
    columns, one line per row, error bars = std."""
    points = length_columns(table)
    if not any(table.cells.get((rid, c), Cell()).n for rid, _ in table.rows for _, c in points):
        return None  # no lengths, or no row with a value at any (every run failed)
    xs, columns = [x for x, _ in points], [c for _, c in points]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    log_x = min(xs) > 0 and max(xs) / min(xs) >= 8
    markers, styles = "osD^vP*X", ["-", "--", "-.", ":"]
    for i, (rid, label) in enumerate(table.rows):
        pts = [(x, table.cells.get((rid, c), Cell())) for x, c in points]
        pts = [(x, cell) for x, cell in pts if cell.n]
        if not pts:
            continue
        # dodge: equal values (several rows at 1.0) stay visible side by side
        shift = (i - (len(table.rows) - 1) / 2) * 0.025
        px = [x * 2**shift if log_x else x + shift * (max(xs) - min(xs)) / 4 for x, _ in pts]
        ax.errorbar(
            px,
            [c.mean or 0.0 for _, c in pts],
            yerr=[c.std or 0.0 for _, c in pts],
            label=label,
            capsize=3,
            marker=markers[i % len(markers)],
            linestyle=styles[i % len(styles)],
            markersize=5,
        )
    metric = table.metric_of[columns[0]].partition("@len=")[0]  # test/acc@len=5 → test/acc: the lines' metric
    if metric.endswith(("/acc", "/f1_macro")):
        ax.set_ylim(-0.02, 1.04)
    if log_x:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(table.column_key or "source length")
    ax.set_ylabel(f"{table.label(metric)} (mean ± std)")
    fig.suptitle(table.title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
