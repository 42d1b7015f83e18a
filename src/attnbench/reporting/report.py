"""One report: the runs under some sweep directories → ``table.{md,csv,tex}``, ``pairwise.csv``, plots,
the best run's attention heatmaps, ``index.html`` and ``MANIFEST`` in a results directory (earlier
files there move to ``.previous/<time>/``); optionally the table goes to W&B. The files are written to a
staging folder and renamed into place one by one: a report killed at any moment leaves whole files.

``attnbench-report <sweep dir(s)> --out DIR`` aggregates any set of runs (ad-hoc multiruns included);
``attnbench-study`` calls :func:`write_report` after its sweep.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.reporting.analysis_plots import permutation_plot
from attnbench.reporting.examples_run import best_examples
from attnbench.reporting.heatmaps import best_heatmaps
from attnbench.reporting.manifest import manifest, publish, run_fields, staging_dir
from attnbench.reporting.page import figure_html, render_page
from attnbench.reporting.plots import bar_plot, length_plot
from attnbench.reporting.records import Record, collect, lookup, model_name
from attnbench.reporting.spec import JobSpec, StudySpec
from attnbench.reporting.statistics import Table, build_table
from attnbench.reporting.tables import to_csv, to_markdown, to_pairwise_csv
from attnbench.reporting.tex import to_tex
from attnbench.reporting.wandb_report import SPEC_FILE
from attnbench.reporting.wandb_table import log_table_to_wandb
from attnbench.runtime.locks import one_writer
from attnbench.runtime.record import RUN_FILE, write_text_atomic

log = logging.getLogger(__name__)

RESULT_FILES = [
    "table.md",
    "table.csv",
    "table.tex",
    "pairwise.csv",
    "bar.png",
    "length.png",
    "permutation.png",
    "heatmaps",
    "lstmn_heatmaps",
    "examples.html",
    "examples.tex",
    "index.html",
    "MANIFEST",
    SPEC_FILE,
]
AD_HOC_PLOTS = ["bar", "length", "heatmaps", "examples"]


@dataclass
class Figures:
    """What the plots step drew: the files written, their <figure> snippets, the heatmaps' run."""

    files: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    best_run: Record | None = None


@one_writer  # one process at a time per results folder
def write_report(
    sweep_dirs: list[Path],
    out: Path,
    study: StudySpec | None = None,
    command: str = "",
    run_info: dict[str, Any] | None = None,
    log_wandb: bool = True,
    metrics: list[str] | None = None,
    baseline: str | None = None,
    wandb_report: bool = False,
) -> dict[str, Any]:
    """Aggregate the runs under ``sweep_dirs`` into ``out`` (earlier result files move to
    ``out/.previous/<time>/``); ``wandb_report``: also the W&B Report (published with credentials, else
    its specification in ``wandb_report.json``). Returns ``{"markdown", "files", "failed", "table",
    "wandb_report"}``."""
    started = time.perf_counter()
    sweep_dirs = [Path(d) for d in sweep_dirs]
    records, ignored = study_records(collect(sweep_dirs), study, sweep_dirs)
    if not records:
        raise FileNotFoundError(f"no run.json under {', '.join(map(str, sweep_dirs))}: nothing to aggregate")
    table = build_table(records, study, sweep_dirs, metrics, baseline)
    out.mkdir(parents=True, exist_ok=True)
    # every file is written to a staging folder first, then renamed into out/: a kill at any moment
    # leaves the earlier results (or the new ones) whole
    stage = staging_dir(out)
    files = write_tables(table, study, stage)
    figures = draw_figures(table, records, study.plots if study is not None else AD_HOC_PLOTS, stage)
    files += figures.files
    info = dict(run_info or {})
    fields = run_fields(records, table, study, sweep_dirs, ignored, info)
    if figures.best_run is not None:
        fields["heatmaps_from"] = figures.best_run["_path"]
    if table.unlabelled:
        log.warning("no label in attnbench.reporting.labels for %s: the key is the header", ", ".join(table.unlabelled))
        fields["unlabelled_keys"] = ", ".join(table.unlabelled)
    wall = float(info.get("wall_s", 0.0)) + (time.perf_counter() - started)
    if log_wandb:
        logged = log_table_to_wandb(table, records, study, stage, sweep_dirs[0])
        fields["wandb_report_run"] = logged or "not logged (no W&B logger in the runs)"
    if wandb_report:
        # wandb and wandb-workspaces take about 2 s to import: only when a W&B Report is asked for
        from attnbench.reporting.wandb_publish import make_wandb_report

        fields["wandb_report"] = make_wandb_report(table, records, study, out, staged=stage)
        files.append(SPEC_FILE)
    manifest_text = manifest(command, wall, fields)
    write_text_atomic(stage / "MANIFEST", manifest_text)
    write_text_atomic(stage / "index.html", render_page(table, study, figures.html, command, manifest_text))
    backup = publish(stage, out, RESULT_FILES)
    if backup:
        log.info("earlier results moved to %s", backup)
    missing = [f for c in table.cells.values() for f in c.failed if "no run.json" in f]
    return {
        "markdown": to_markdown(table),
        "files": [*files, "index.html", "MANIFEST"],
        "failed": [r["_path"] for r in records if r.get("status") != "completed"] + missing,
        "table": table,
        "wandb_report": fields.get("wandb_report"),
        "unlabelled": table.unlabelled,
    }


def study_records(records: list[Record], study: StudySpec | None, sweep_dirs: list[Path]) -> tuple[list[Record], int]:
    """The records of the study's current jobs, and how many others were left out: runs of an earlier
    layout of the study (another grid, a removed variant) may still lie in the sweep directory."""
    if study is None:
        return records, 0
    wanted = {str((d / job.dir_name / RUN_FILE).resolve()): job for d in sweep_dirs for job in study.expected_jobs()}
    kept = []
    for r in records:
        job = wanted.get(str(Path(r["_path"]).resolve()))
        if job is not None and r.get("unreadable"):
            # a corrupt run.json of one of the study's jobs: a failed job of its cell, not a stranger
            r["config"] = job_config(study, job)
        if job is not None and ((r.get("config") or {}).get("study") or {}).get("name") == study.name:
            kept.append(r)
    return kept, len(records) - len(kept)


def job_config(study: StudySpec, job: JobSpec) -> dict[str, Any]:
    """The config a job's run.json would hold, as far as a table reads it: study, variant, seed, grid cell."""
    config: dict[str, Any] = {"study": {"name": study.name, "variant": job.variant}, "seed": job.seed}
    for key, value in job.cell.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config


def write_tables(table: Table, study: StudySpec | None, out: Path) -> list[str]:
    """``table.md`` (titled, with the study's question and the footnote), ``table.csv``, ``table.tex``,
    ``pairwise.csv``; returns their names."""
    md = f"# {table.title}\n\n"
    if study is not None and study.question:
        md += f"{study.question}\n\n"
    md += to_markdown(table) + "\n" + table.footnote() + "\n"
    texts = {
        "table.md": md,
        "table.csv": to_csv(table),
        "table.tex": to_tex(table),
        "pairwise.csv": to_pairwise_csv(table),
    }
    for name, text in texts.items():
        write_text_atomic(out / name, text)
    return list(texts)


def draw_figures(table: Table, records: list[Record], plots: Sequence[str], out: Path) -> Figures:
    """The plots the study asks for (``bar``, ``length``, ``permutation``, ``heatmaps``), each with its caption."""
    figures = Figures()
    first_metric = table.metric_of[table.columns[0][0]]
    name = table.label(first_metric)
    if "bar" in plots and bar_plot(table, out / "bar.png"):
        figures.files.append("bar.png")
        figures.html.append(figure_html(out / "bar.png", out, f"{name}: mean ± std over seeds"))
    if "length" in plots and length_plot(table, out / "length.png"):
        figures.files.append("length.png")
        figures.html.append(figure_html(out / "length.png", out, f"{name} against {table.column_key}"))
    if "permutation" in plots and permutation_plot(table, records, out / "permutation.png"):
        figures.files.append("permutation.png")
        caption = "median output TVD when the attention weights are shuffled, against the largest weight"
        figures.html.append(figure_html(out / "permutation.png", out, caption + " (every analysed example, all seeds)"))
    if "heatmaps" in plots:
        heat_dir, best = best_heatmaps(records, first_metric, out, column_key=table.column_key)
        if heat_dir is not None and best is not None:
            figures.files.append("heatmaps/")
            caption = heatmap_caption(best, table.column_key, first_metric)
            figures.html += [figure_html(p, out, caption + f": {p.name}") for p in sorted(heat_dir.glob("*.png"))]
            figures.best_run = best
        draw_lstmn_memory(table, records, first_metric, out, figures)
    if "examples" in plots and (link := examples_link(records, first_metric, out, table.column_key)):
        figures.files += ["examples.html", "examples.tex"]
        figures.html.append(link)
    return figures


def examples_link(records: list[Record], metric: str, out: Path, column_key: str | None) -> str | None:
    """``examples.{html,tex}`` of the best attention run, and the page's link to them (None without)."""
    drawn = best_examples(records, metric, out, column_key)
    if drawn is None:
        return None
    run, shown = drawn
    caption = heatmap_caption(run, column_key, metric).replace("attention of", "test examples of", 1)
    return (
        f'<p id="examples"><a href="examples.html">Highlighted examples</a> (<a href="examples.tex">LaTeX</a>):'
        f" {html.escape(caption)}; {html.escape(shown)}.</p>"
    )


def draw_lstmn_memory(table: Table, records: list[Record], metric: str, out: Path, figures: Figures) -> None:
    """The best LSTMN run's memory pictures (intra-attention) in ``lstmn_heatmaps/``, when the study has one."""
    heat_dir, best = best_heatmaps(records, metric, out, table.column_key, encoder="lstmn", dirname="lstmn_heatmaps")
    if heat_dir is not None and best is not None:
        figures.files.append("lstmn_heatmaps")
        caption = heatmap_caption(best, table.column_key, metric).replace("attention of", "LSTMN memory of", 1)
        figures.html += [figure_html(p, out, caption + f": {p.name}") for p in sorted(heat_dir.glob("*.png"))]


def heatmap_caption(run: Record, column_key: str | None, metric: str) -> str:
    """``attention of the best run (<label>, seed S[, key=value], <metric> 0.950)``."""
    column = f", {column_key}={lookup(run, column_key)}" if column_key else ""
    return (
        f"attention of the best run ({model_name(run)}, seed {run['config'].get('seed')}{column}"
        f", {metric} {lookup(run, metric):.3f})"
    )


def print_summary(summary: dict[str, Any], out: Path) -> int:
    """Print the table and the files written; the exit status: 1 when a run failed or is missing."""
    print(summary["markdown"])
    print(f"wrote {out}: {', '.join(summary['files'])}")
    if summary.get("unlabelled"):
        print(f"no label in the registry (attnbench.reporting.labels) for: {', '.join(summary['unlabelled'])}")
    if summary.get("wandb_report"):
        print(f"W&B report: {summary['wandb_report']}")
    return 1 if summary["failed"] else 0
