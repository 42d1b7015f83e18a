"""A study's figure of the faithfulness analyses: Jain & Wallace's permutation scatter for every row.

Each analysed run wrote ``<run_dir>/analysis/permutation.csv`` (one line per test example: the median
output TVD over the shuffles of its attention weights, and its largest weight). The figure draws one
panel per row of the table, the examples of all its seeds pooled, so models can be compared at a
glance: points high up mean the output depends on *where* the attention goes.
"""

from __future__ import annotations

import csv
import math
import textwrap
from pathlib import Path

from attnbench.analysis.plots import FIGURES
from attnbench.reporting.plots import pyplot
from attnbench.reporting.records import Record
from attnbench.reporting.statistics import Table
from attnbench.runtime.record import atomic_path

PERMUTATION_CSV = Path("analysis") / "permutation.csv"
TVD_COLUMN, TVD_LABEL, _ = FIGURES["permutation"]  # the per-run scatter's column and axis label


def permutation_points(table: Table, records: list[Record]) -> dict[str, tuple[list[float], list[float]]]:
    """Row id (as the table grouped the run) → (max attention, median output TVD) of every analysed
    example of its runs."""
    points: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        path = Path(record["_path"]).parent / PERMUTATION_CSV
        rid = table.row_of_run.get(record["_path"])
        if rid is None or not path.is_file():
            continue
        xs, ys = points.setdefault(rid, ([], []))
        with path.open(newline="") as f:
            for line in csv.DictReader(f):
                xs.append(float(line["max_attention"]))
                ys.append(float(line[TVD_COLUMN]))
    return points


def permutation_plot(table: Table, records: list[Record], path: Path) -> Path | None:
    """One panel per row with permutation results: median output TVD against max attention."""
    points = permutation_points(table, records)
    rows = [(rid, label) for rid, label in table.rows if points.get(rid, ([], []))[0]]
    if not rows:
        return None
    plt = pyplot()
    ncols = min(3, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.3 * nrows), squeeze=False, sharey=True)
    top = max(max(points[rid][1]) for rid, _ in rows)
    for ax, (rid, label) in zip(axes.flat, rows, strict=False):
        xs, ys = points[rid]
        ax.scatter(xs, ys, s=6, alpha=0.5)
        ax.set_title(textwrap.fill(label, 40) + f"\n{len(xs)} examples", fontsize="small")
        ax.set(xlim=(0, 1.02), ylim=(-0.02, max(0.1, top * 1.05)))
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(rows) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("max attention weight")
    for ax in axes[:, 0]:
        ax.set_ylabel(TVD_LABEL)
    fig.suptitle(f"{table.title}: output change when the attention weights are shuffled", fontsize="medium")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
