"""A study's table as numbers: runs grouped into rows (variants) and columns (grid values or metrics),
each cell the mean ± std over seeds, the best per column (by the metric's direction) and a paired test.

Significance: an exact two-sided paired sign-flip test across seeds (:mod:`.significance`; run *i* of a
variant paired with the baseline's run of the same seed and column), on the table's first metric; cells
with fewer than 2 paired seeds are not tested. The marks are uncorrected; ``table.csv`` and
``pairwise.csv`` add Holm-corrected p-values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.reporting import labels
from attnbench.reporting.records import Record, lookup, run_labels
from attnbench.reporting.significance import holm, min_p, paired_diffs, sign_flip_p_value
from attnbench.reporting.spec import StudySpec
from attnbench.runtime.record import RUN_FILE

DEFAULT_METRICS = ["test/acc", "test/f1_macro"]
DEFAULT_EXTRA = ["timings/fit_s", "params"]  # shown beside the metrics, never marked best or tested


class TableError(ValueError):
    """Runs that cannot make one table (two runs in one cell and seed, a baseline that is no row)."""


@dataclass
class Cell:
    """The runs of one (row, column): their values by seed and what failed."""

    values: dict[int, float] = field(default_factory=dict)  # seed → value (completed runs)
    failed: list[str] = field(default_factory=list)  # run paths (or job names) that failed / are missing
    undefined_seeds: list[int] = field(default_factory=list)  # completed runs whose value is NaN
    runs: dict[int, str] = field(default_factory=dict)  # seed → the run directory (duplicates are errors)
    p_value: float | None = None
    p_holm: float | None = None
    tested: bool = False  # a paired test was due for this cell (it may still have too few pairs)
    best: bool = False

    @property
    def undefined(self) -> int:
        """Completed runs whose value is NaN (Kendall τ of uniform weights: all tied)."""
        return len(self.undefined_seeds)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values.values()) / self.n if self.n else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation (n − 1); None (undefined) for fewer than two values."""
        if self.n < 2:
            return None
        m = sum(self.values.values()) / self.n
        return math.sqrt(sum((v - m) ** 2 for v in self.values.values()) / (self.n - 1))


def paired_p_value(a: dict[int, float], b: dict[int, float]) -> float | None:
    """The exact two-sided paired sign-flip test over the seeds both have; None with fewer than 2 pairs."""
    return sign_flip_p_value(paired_diffs(a, b))


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
    directions: dict[str, str] = field(default_factory=dict)  # metric key → higher | lower | none
    extra: list[str] = field(default_factory=list)  # extra (non-significance) metric columns
    row_of_run: dict[str, str] = field(default_factory=dict)  # a run's record path → its row id
    unlabelled: list[str] = field(default_factory=list)  # metric keys the label registry does not know
    renames: dict[str, str] = field(default_factory=dict)  # the study's table.labels: metric key → label
    missing_columns: list[str] = field(default_factory=list)  # re-aggregated: the study's columns table.csv lacks
    left_out: list[str] = field(default_factory=list)  # variant ids of the study file not run (--variants)

    def label(self, metric: str) -> str:
        """The metric's label in this table: the study's rename, else the registry's."""
        return labels.label(metric, self.renames)

    def direction(self, col: Any) -> str:
        """The column's direction: ``none`` for extra columns, else the study's or the registry's."""
        metric = self.metric_of[col]
        return "none" if metric in self.extra else self.directions.get(metric) or labels.direction(metric)

    def first_metric(self) -> str:
        return self.metric_of[self.columns[0][0]] if self.columns else "?"

    def footnote(self) -> str:
        return " ".join(footnote_lines(self))


def footnote_lines(table: Table) -> list[str]:
    """The footnote's sentences: what a cell is, the bold, the test and its marks, undefined cells."""
    lines = ["Cells: mean ± sample std over seeds (— for one seed); n = completed seeds (failed runs counted apart)."]
    dirs = {table.direction(c) for c, _ in table.columns}
    marked = [h for c, h in table.columns if table.direction(c) != "none"]
    if marked:
        how = (
            "highest or lowest mean as the metric's direction says"
            if dirs >= {"higher", "lower"}
            else ("highest mean" if "higher" in dirs else "lowest mean")
        )
        lines.append(f"Best per column in bold ({how}, among cells with the most seeds).")
    unmarked = [h for c, h in table.columns if table.direction(c) == "none"]
    if unmarked:
        lines.append(f"No bold in controls and descriptive columns ({', '.join(unmarked)}).")
    if table.baseline:
        base = dict(table.rows).get(table.baseline, table.baseline)
        n = table.expected_seeds or max((c.n for c in table.cells.values()), default=0)
        lines.append(
            f"Significance: exact two-sided paired sign-flip (permutation) test across seeds on "
            f"{table.label(table.first_metric())} against the baseline '{base}' (same seed"
            f"{', same column' if table.column_key else ''}); † p < 0.05, ‡ p < 0.01, uncorrected "
            f"(Holm-corrected p in table.csv and pairwise.csv). With {n} seeds the smallest possible p is "
            f"{min_p(n):.3g}; n.t.: not testable (fewer than 2 seeds paired with the baseline)."
        )
    if any(c.undefined for c in table.cells.values()):
        lines.append(
            "undefined: the runs completed but the metric has no value (NaN), e.g. Kendall τ against "
            "uniform attention, whose weights are all tied; '(k undefined)' counts them in a cell, whose "
            "mean is over its other seeds (n=…)."
        )
    if table.left_out:
        lines.append(
            f"Not in this table: the study's variants {', '.join(table.left_out)} (left out with "
            "attnbench-study --variants; not run)."
        )
    if table.published:
        lines.append(f"Published: {table.published.get('source', '')} ({table.published.get('metric', '')}).")
    return lines


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
        names = {id(r): label for r, label in zip(records, run_labels(records), strict=True)}
        rows = list(dict.fromkeys((names[id(r)], names[id(r)]) for r in records))

        def row_of(r: Record) -> str:
            return names[id(r)]

    table = empty_table(study, rows, metrics or DEFAULT_METRICS, baseline)
    _fill_cells(table, records, row_of)
    if study is not None and sweep_dirs:
        _count_missing_jobs(table, study, sweep_dirs)
    mark_best_and_significance(table)
    return table


def empty_table(
    study: StudySpec | None, rows: list[tuple[str, str]], metrics: list[str], baseline: str | None
) -> Table:
    """The table's rows and columns, its headers from the label registry (or the study's renames)."""
    if baseline is not None and baseline not in dict(rows):
        where = f"{study.path}: table.baseline" if study else "--baseline"
        raise TableError(f"{where}={baseline!r} names no row; rows: {[rid for rid, _ in rows]}")
    renames = dict(study.labels) if study else {}
    column_key = study.columns if study else None
    extra = [] if column_key else list(study.extra if study else DEFAULT_EXTRA)
    if study is not None and column_key:
        values = list(study.grid[column_key])
        columns = [(v, f"{column_key.split('.')[-1]}={v}") for v in values]
        metric_of = {v: metrics[0] for v in values}
    else:
        columns = [(m, labels.label(m, renames)) for m in [*metrics, *extra]]
        metric_of = {m: m for m in [*metrics, *extra]}
    used = dict.fromkeys([*metrics, *extra])
    return Table(
        title=(study.title or study.name) if study else "runs",
        rows=rows,
        columns=columns,
        metric_of=metric_of,
        cells=defaultdict(Cell),
        baseline=baseline,
        expected_seeds=len(study.seeds) if study else 0,
        column_key=column_key,
        published=study.published if study else None,
        directions=dict(study.directions) if study else {},
        extra=extra,
        unlabelled=[m for m in used if not labels.is_known(m) and m not in renames],
        renames=renames,
        left_out=list(getattr(study, "left_out", None) or []),
    )


def _study_of(record: Record) -> dict[str, Any]:
    return (record.get("config") or {}).get("study") or {}


def _fill_cells(table: Table, records: list[Record], row_of: Callable[[Record], str]) -> None:
    """Put each run's value into its cell (by seed); a run that did not complete counts as failed; two
    completed runs in one cell with one seed are an error (one would hide the other)."""
    keys = [c for c, _ in table.columns]
    for r in records:
        rid, path = row_of(r), r.get("_path", "?")
        table.row_of_run[path] = rid
        seed = (r.get("config") or {}).get("seed", 0)
        col_values = [lookup(r, table.column_key)] if table.column_key else keys
        for value in col_values:
            col = _match_column(value, keys)
            if col is None:
                continue
            cell = table.cells[(rid, col)]
            if r.get("status") != "completed":
                cell.failed.append(path)
                continue
            if seed in cell.runs:
                where = f"column {col!r}, " if table.column_key else ""
                raise TableError(
                    f"two runs for row {rid!r}, {where}seed {seed}: {Path(cell.runs[seed]).parent} and "
                    f"{Path(path).parent}; report them apart, or give them different seeds"
                )
            cell.runs[seed] = path
            v = lookup(r, table.metric_of[col])
            if v is not None and math.isnan(float(v)):
                cell.undefined_seeds.append(seed)  # not a number to average: counted, not "nan ± nan"
            elif v is not None:
                cell.values[seed] = float(v)


def _count_missing_jobs(table: Table, study: StudySpec, sweep_dirs: list[Path]) -> None:
    """Jobs that never wrote a run.json (the multirun died, or was stopped) are failures too."""
    for job in study.expected_jobs():
        if not any((d / job.dir_name / RUN_FILE).is_file() for d in sweep_dirs):
            cols = [job.cell[table.column_key]] if table.column_key else [c for c, _ in table.columns]
            for col in cols:
                table.cells[(job.variant, col)].failed.append(job.dir_name + " (no run.json)")


def mark_best_and_significance(table: Table) -> None:
    """Bold the best mean per column (by its direction, among the cells with the most seeds; none for
    controls); test every row against the baseline on the first metric, with Holm over those tests."""
    cells, first = table.cells, table.first_metric()
    tested: list[Cell] = []
    for col, _ in table.columns:
        metric, direction = table.metric_of[col], table.direction(col)
        if metric in table.extra:
            continue
        column = [cells[(rid, col)] for rid, _ in table.rows]
        full = max((c.n for c in column), default=0)
        means = [c.mean for c in column if c.n == full and c.mean is not None]
        if means and direction != "none":
            best = max(means) if direction == "higher" else min(means)
            for c in column:
                c.best = c.n == full and c.mean is not None and abs(c.mean - best) < 1e-12
        if table.baseline and metric == first:
            base = cells[(table.baseline, col)]
            for rid, _ in table.rows:
                c = cells[(rid, col)]
                if rid != table.baseline and c.n:
                    c.tested, c.p_value = True, paired_p_value(c.values, base.values)
                    tested.append(c)
    for c, p in zip(tested, holm([c.p_value for c in tested]), strict=True):
        c.p_holm = p


def _match_column(value: Any, columns: list[Any]) -> Any:
    """The column a run's value belongs to (a grid value read back from YAML may be a str or a number)."""
    for c in columns:
        if value == c or str(value) == str(c):
            return c
    return None
