"""Re-aggregate a results directory from its own ``table.csv``: the per-seed values it keeps
(``values_by_seed``) are enough to rebuild every statistic, so the tables (md, csv, tex, html) and
``pairwise.csv`` can be made again with the current code when the runs' records are gone. The plots
and heatmaps stay as they are; the MANIFEST keeps the original run command and gains the
re-aggregation's command and git sha; the earlier files move to ``.previous/<time>/``.

``attnbench-report --from-results results/<name> [--study NAME]``.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from attnbench.reporting.manifest import publish, staging_dir
from attnbench.reporting.page import render_page
from attnbench.reporting.report import write_tables
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table, TableError, empty_table, mark_best_and_significance
from attnbench.runtime.locks import REPORT_LOCK, exclusive
from attnbench.runtime.record import git_sha, write_text_atomic

REWRITTEN = ["table.md", "table.csv", "table.tex", "pairwise.csv", "index.html", "MANIFEST"]
FIGURE = re.compile(r"<figure>.*?</figure>", re.S)


def study_of_results(out: Path) -> str | None:
    """The study named in ``out/MANIFEST`` (``study: <name>``), if any."""
    manifest = out / "MANIFEST"
    if not manifest.is_file():
        return None
    for line in manifest.read_text().splitlines():
        key, _, value = line.partition(": ")
        if key == "study" and value.strip() and value.strip() != "(ad hoc)":
            return value.strip()
    return None


def table_from_csv(path: Path, study: StudySpec) -> Table:
    """The study's table with its cells filled from ``table.csv``'s ``values_by_seed`` (null: an
    undefined seed) and ``failed`` counts, then marked and tested again."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "values_by_seed" not in rows[0]:
        raise TableError(f"{path}: no values_by_seed column; only a study report's table.csv can be re-aggregated")
    table = empty_table(study, study.rows(), list(study.metrics), study.baseline)
    # columns the study file gained after the results were made (a new extra column) have no values
    present = {line["column"] for line in rows}
    table.missing_columns = [h for c, h in table.columns if str(c) not in present]
    table.columns = [(c, h) for c, h in table.columns if str(c) in present]
    by_text = {str(c): c for c, _ in table.columns}
    for line in rows:
        col = by_text.get(line["column"])
        if line["row"] not in dict(table.rows) or col is None:
            raise TableError(
                f"{path}: row {line['row']!r}, column {line['column']!r} is not in the table of {study.path} "
                "(the study file changed since the results were made: re-aggregate with the study file they used)"
            )
        _fill(table, (line["row"], col), line, study)
    mark_best_and_significance(table)
    return table


def _fill(table: Table, key: tuple[str, Any], line: dict[str, str], study: StudySpec) -> None:
    cell = table.cells[key]
    for seed, value in json.loads(line["values_by_seed"] or "{}").items():
        if value is None:
            cell.undefined_seeds.append(int(seed))
        else:
            cell.values[int(seed)] = float(value)
    failed = int(line.get("failed") or 0)
    cell.failed = [f"(failed run {i + 1} of table.csv)" for i in range(failed)]
    if "undefined" not in line:
        # an older table.csv left undefined (NaN) seeds out of values_by_seed: they are the study's
        # seeds that are neither there nor failed
        rest = [s for s in study.seeds if s not in cell.values]
        cell.undefined_seeds = rest[: max(0, len(rest) - failed)]


def reaggregate(out: Path, study: StudySpec, command: str) -> dict[str, Any]:
    """Rewrite ``out``'s tables, ``pairwise.csv``, ``index.html`` (its figures kept) and ``MANIFEST``
    from ``out/table.csv``, holding the folder's report lock (a study's report may be writing there).
    Returns ``{"table", "files", "backup"}``."""
    with exclusive(out / REPORT_LOCK):
        return _reaggregate(out, study, command)


def _reaggregate(out: Path, study: StudySpec, command: str) -> dict[str, Any]:
    table = table_from_csv(out / "table.csv", study)
    stage = staging_dir(out)
    try:
        write_tables(table, study, stage)
        old = (out / "MANIFEST").read_text() if (out / "MANIFEST").is_file() else ""
        lines = [
            f"reaggregated_command: {command}",
            f"reaggregated_git_sha: {git_sha()}",
            f"reaggregated_date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
            "reaggregated_from: table.csv values_by_seed (the run records were not read; plots and heatmaps kept)",
        ]
        if table.missing_columns:
            lines.append(f"reaggregated_without: {', '.join(table.missing_columns)} (columns not in table.csv)")
        if table.unlabelled:
            lines.append(f"unlabelled_keys: {', '.join(table.unlabelled)}")
        manifest_text = old + "\n".join(lines) + "\n"
        write_text_atomic(stage / "MANIFEST", manifest_text)
        page = (out / "index.html").read_text() if (out / "index.html").is_file() else ""
        figures = FIGURE.findall(page)
        original = next((ln[9:] for ln in old.splitlines() if ln.startswith("command: ")), "")
        shown = f"{original}\n# re-aggregated from table.csv:\n{command}" if original else command
        write_text_atomic(stage / "index.html", render_page(table, study, figures, shown, manifest_text))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    backup = publish(stage, out, REWRITTEN)
    return {"table": table, "files": REWRITTEN, "backup": backup}
