"""A study's table as numbers: runs grouped into rows (variants) and columns (grid values or metrics),
each cell the mean ± std over seeds, the best per column and a paired significance test.

Significance: a two-sided paired t-test across seeds (run *i* of a variant paired with the baseline's
run of the same seed and column), on the table's first metric. It needs at least 2 paired seeds; with
3 seeds only large, consistent differences reach p < 0.05.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.reporting.records import Record, lookup, run_labels
from attnbench.reporting.spec import StudySpec
from attnbench.runtime.record import RUN_FILE

METRIC_NAMES = {
    "test/acc": "test acc",
    "test/f1_macro": "test macro-F1",
    "val/acc": "best val acc",
    "val/f1_macro": "val macro-F1",
    "timings/fit_s": "train time (s)",
    "timings/train_examples_per_s": "train examples/s",
    "epochs": "epochs",
    "params": "parameters",
}
DEFAULT_METRICS = ["test/acc", "test/f1_macro"]
DEFAULT_EXTRA = ["timings/fit_s", "params"]  # shown beside the metrics, never marked best or tested


@dataclass
class Cell:
    """The runs of one (row, column): their values by seed and what failed."""

    values: dict[int, float] = field(default_factory=dict)  # seed → value (completed runs)
    failed: list[str] = field(default_factory=list)  # run paths (or job names) that failed / are missing
    undefined: int = 0  # completed runs whose value is NaN (Kendall τ of uniform weights: all tied)
    p_value: float | None = None
    best: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values.values()) / self.n if self.n else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation (n − 1); 0 for one value, None for none."""
        if self.n < 2:
            return None if self.n == 0 else 0.0
        m = sum(self.values.values()) / self.n
        return math.sqrt(sum((v - m) ** 2 for v in self.values.values()) / (self.n - 1))


def paired_p_value(a: dict[int, float], b: dict[int, float]) -> float | None:
    """Two-sided paired t-test over the seeds both have; None with fewer than 2 pairs. Identical
    differences (zero variance) give p = 1 when they are all 0, else p = 0."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    if max(diffs) - min(diffs) < 1e-12:
        return 1.0 if abs(diffs[0]) < 1e-12 else 0.0
    from scipy import stats  # scipy takes a second to import: only when a test is due

    return float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


@dataclass
class Table:
    """Rows × columns of cells, and what the footnote says about them."""

    title: str
    rows: list[tuple[str, str]]  # (row id, label)
    columns: list[tuple[Any, str]]  # (column value: grid value or metric key, header)
    metric_of: dict[Any, str]  # column value → metric key
    cells: dict[tuple[str, Any], Cell]
    baseline: str | None
    expected_seeds: int
    column_key: str | None
    published: dict[str, Any] | None = None
    higher_is_better: bool = True
    extra: list[str] = field(default_factory=list)  # extra (non-significance) metric columns
    row_of_run: dict[str, str] = field(default_factory=dict)  # a run's record path → its row id

    def footnote(self) -> str:
        lines = ["Cells: mean ± sample std over seeds; n = completed seeds per row (failed runs counted separately)."]
        first = self.metric_of[self.columns[0][0]] if self.columns else "?"
        lines.append(f"Best per column in bold ({'highest' if self.higher_is_better else 'lowest'} mean).")
        if self.baseline:
            base = dict(self.rows).get(self.baseline, self.baseline)
            lines.append(
                f"Significance: two-sided paired t-test across seeds on {first} against the baseline "
                f"'{base}' (same seed{', same column' if self.column_key else ''}); † p < 0.05, ‡ p < 0.01."
            )
        if any(c.undefined and not c.n for c in self.cells.values()):
            lines.append(
                "undefined: the runs completed but the metric has no value (NaN), e.g. Kendall τ against "
                "uniform attention, whose weights are all tied."
            )
        if self.published:
            lines.append(f"Published: {self.published.get('source', '')} ({self.published.get('metric', '')}).")
        return " ".join(lines)


def build_table(
    records: list[Record],
    study: StudySpec | None = None,
    sweep_dirs: list[Path] | None = None,
    metrics: list[str] | None = None,
    baseline: str | None = None,
) -> Table:
    """Group runs into rows (the study's variants, else the runs' model names) and columns (the grid
    values of ``study.columns``, else the metrics), with statistics. A study's jobs that never wrote a
    ``run.json`` in ``sweep_dirs`` count as failed in their cells."""
    if study is not None:
        records = [r for r in records if _study_of(r).get("name") == study.name]
        rows = study.rows()
        metrics, baseline = list(study.metrics), study.baseline

        def row_of(r: Record) -> str:
            return str(_study_of(r).get("variant"))

    else:
        labels = {id(r): label for r, label in zip(records, run_labels(records), strict=True)}
        rows = list(dict.fromkeys((labels[id(r)], labels[id(r)]) for r in records))

        def row_of(r: Record) -> str:
            return labels[id(r)]

    metrics = metrics or DEFAULT_METRICS
    column_key = study.columns if study else None
    extra = [] if column_key else list(study.extra if study else DEFAULT_EXTRA)
    if study is not None and column_key:
        values = list(study.grid[column_key])
        columns = [(v, f"{column_key.split('.')[-1]}={v}") for v in values]
        metric_of = {v: metrics[0] for v in values}
    else:
        columns = [(m, METRIC_NAMES.get(m, m)) for m in [*metrics, *extra]]
        metric_of = {m: m for m in [*metrics, *extra]}
    table = Table(
        title=(study.title or study.name) if study else "runs",
        rows=rows,
        columns=columns,
        metric_of=metric_of,
        cells=defaultdict(Cell),
        baseline=baseline,
        expected_seeds=len(study.seeds) if study else 0,
        column_key=column_key,
        published=study.published if study else None,
        higher_is_better=study.higher_is_better if study else True,
        extra=extra,
    )
    _fill_cells(table, records, row_of)
    if study is not None and sweep_dirs:
        _count_missing_jobs(table, study, sweep_dirs)
    _mark_best_and_significance(table, metrics[0])
    return table


def _study_of(record: Record) -> dict[str, Any]:
    return (record.get("config") or {}).get("study") or {}


def _fill_cells(table: Table, records: list[Record], row_of: Callable[[Record], str]) -> None:
    """Put each run's value into its cell (by seed); a run that did not complete counts as failed."""
    keys = [c for c, _ in table.columns]
    for r in records:
        rid = row_of(r)
        table.row_of_run[r.get("_path", "?")] = rid
        seed = (r.get("config") or {}).get("seed", 0)
        col_values = [lookup(r, table.column_key)] if table.column_key else keys
        for value in col_values:
            col = _match_column(value, keys)
            if col is None:
                continue
            cell = table.cells[(rid, col)]
            if r.get("status") != "completed":
                cell.failed.append(r.get("_path", "?"))
                continue
            v = lookup(r, table.metric_of[col])
            if v is not None and math.isnan(float(v)):
                cell.undefined += 1  # not a number to average: the cell says "undefined", not "nan ± nan"
            elif v is not None:
                cell.values[seed] = float(v)


def _count_missing_jobs(table: Table, study: StudySpec, sweep_dirs: list[Path]) -> None:
    """Jobs that never wrote a run.json (the multirun died, or was stopped) are failures too."""
    for job in study.expected_jobs():
        if not any((d / job.dir_name / RUN_FILE).is_file() for d in sweep_dirs):
            cols = [job.cell[table.column_key]] if table.column_key else [c for c, _ in table.columns]
            for col in cols:
                table.cells[(job.variant, col)].failed.append(job.dir_name + " (no run.json)")


def _mark_best_and_significance(table: Table, first_metric: str) -> None:
    """Mark the best mean per column; test every row against the baseline on the first metric."""
    cells = table.cells
    for col, _ in table.columns:
        metric = table.metric_of[col]
        if metric in table.extra:
            continue
        means = [(m, rid) for rid, _ in table.rows if (m := cells[(rid, col)].mean) is not None]
        if means:
            best = (max if table.higher_is_better else min)(m for m, _ in means)
            for m, rid in means:
                cells[(rid, col)].best = abs(m - best) < 1e-12
        if table.baseline and metric == first_metric:
            base = cells[(table.baseline, col)]
            for rid, _ in table.rows:
                if rid != table.baseline and cells[(rid, col)].n:
                    cells[(rid, col)].p_value = paired_p_value(cells[(rid, col)].values, base.values)


def _match_column(value: Any, columns: list[Any]) -> Any:
    """The column a run's value belongs to (a grid value read back from YAML may be a str or a number)."""
    for c in columns:
        if value == c or str(value) == str(c):
            return c
    return None
