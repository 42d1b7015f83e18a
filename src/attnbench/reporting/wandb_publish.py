"""A report specification (:mod:`attnbench.reporting.wandb_report`) as ``wandb-workspaces`` objects, and
publishing it: :func:`build_report` needs no network (the objects are only built), :func:`publish`
saves the report to W&B and returns its URL. Importing this module imports wandb (about 2 s), so its
callers import it only when a report is published."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import wandb
import wandb_workspaces.reports.v2 as wr

from attnbench.reporting.labels import fmt, label
from attnbench.reporting.records import Record
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table
from attnbench.reporting.wandb_report import (
    SPEC_FILE,
    ReportSpecError,
    build_spec,
    has_credentials,
    read_spec,
    runset_filter,
    save_spec,
)
from attnbench.runtime.loggers import wandb_settings

log = logging.getLogger(__name__)


def runs_markdown(block: dict[str, Any], entity: str, project: str, app_url: str) -> str:
    """A markdown list: each run's label, seed and metric, linked to its W&B page (on the server wandb is
    configured for, ``app_url``) when its id is known."""
    lines = []
    for run in block["runs"]:
        value = run["value"]
        shown = (
            f"{label(run['metric'])} {fmt(run['metric'], value)}"
            if isinstance(value, int | float)
            else str(run["status"])
        )
        text = f"{run['label']}, seed {run['seed']} ({run['name']}): {shown}"
        if run.get("run_id"):
            text = f"[{text}]({app_url.rstrip('/')}/{entity}/{project}/runs/{run['run_id']})"
        lines.append(f"- {text}")
    return "\n".join(lines) or "(no runs)"


def panel(block: dict[str, Any]) -> Any:
    """The ``wandb-workspaces`` panel of one chart block."""
    kind = block["kind"]
    if kind == "bar":
        return wr.BarPlot(
            title=block["title"],
            metrics=[block["metric"]],
            groupby=block["groupby"],
            groupby_aggfunc="mean",
            groupby_rangefunc=block["rangefunc"],
        )
    if kind == "line":
        return wr.LinePlot(
            title=block["title"],
            x=block["x"],
            y=list(block["y"]),
            groupby=block["groupby"],
            groupby_aggfunc="mean",
            groupby_rangefunc=block["rangefunc"],
        )
    if kind == "scatter":
        return wr.ScatterPlot(title=block["title"], x=wr.Config(block["x"]), y=wr.SummaryMetric(block["y"]))
    if kind == "images":
        return wr.MediaBrowser(title=block["title"], media_keys=list(block["keys"]))
    if kind == "table":
        return wr.WeavePanelSummaryTable(table_name=block["table_name"])
    raise ReportSpecError(f"unknown block kind {kind!r}")


def build_report(spec: dict[str, Any], entity: str, app_url: str | None = None) -> wr.Report:
    """The report's objects (nothing is sent): text, the study's runs grouped by job type, the table run.
    ``app_url``: the W&B web address run links point to (default: that of the server wandb is
    configured for: ``WANDB_BASE_URL`` or ``wandb login --host``)."""
    project = spec["project"]
    app_url = app_url or wandb_settings().app_url
    runs = wr.Runset(
        entity=entity,
        project=project,
        name="study runs",
        filters=runset_filter(spec["runset"]["group"], spec["runset"]["job_types"]),
        groupby=["JobType"],
    )
    table_run = wr.Runset(
        entity=entity,
        project=project,
        name="table run",
        filters=runset_filter(spec["report_run"]["group"], [spec["report_run"]["job_type"]]),
    )
    blocks: list[Any] = [wr.H1(text=spec["title"])]
    for block in spec["blocks"]:
        kind = block["kind"]
        if kind == "markdown":
            blocks.append(wr.MarkdownBlock(text=block["text"]))
        elif kind == "runs":
            markdown = runs_markdown(block, entity, project, app_url)
            blocks += [wr.H2(text=block["title"]), wr.MarkdownBlock(text=markdown)]
        else:
            runset = table_run if kind in ("images", "table") else runs
            blocks.append(wr.PanelGrid(runsets=[runset], panels=[panel(block)]))
    return wr.Report(
        entity=entity, project=project, title=spec["title"], description=spec["description"], blocks=blocks
    )


def publish(spec: dict[str, Any], entity: str | None = None) -> str:
    """Save the report to W&B (credentials needed); its URL. The entity: the argument, the spec's, or the
    API key's default entity."""
    entity = entity or spec.get("entity") or wandb.Api().default_entity
    if entity is None:
        raise ValueError("no W&B entity: pass one, put one in the spec, or use an API key with a default entity")
    report = build_report(spec, entity)
    report.save()
    return str(report.url)


def publish_spec_file(path: Path, entity: str | None = None) -> str:
    """Publish a saved specification; the URL also goes into the MANIFEST beside it, if there is one."""
    url = publish(read_spec(path), entity)
    manifest = Path(path).parent / "MANIFEST"
    if manifest.is_file():
        lines = [ln for ln in manifest.read_text().splitlines() if not ln.startswith("wandb_report: ")]
        tmp = manifest.with_name(f"MANIFEST.tmp{os.getpid()}")
        tmp.write_text("\n".join([*lines, f"wandb_report: {url}"]) + "\n")
        os.replace(tmp, manifest)
    return url


def make_wandb_report(
    table: Table, records: list[Record], study: StudySpec | None, out: Path, staged: Path | None = None
) -> str:
    """Write ``out/wandb_report.json`` and, with W&B credentials, publish the report: its URL, or one line
    saying why it was not published (what the MANIFEST records). ``staged``: the folder the report's
    files are written to before they are renamed into ``out`` (the plots are read, the spec written there)."""
    spec = build_spec(table, records, study, staged or out)
    save_spec(spec, staged or out)
    path = out / SPEC_FILE
    later = f"specification in {path}; publish it with: attnbench-report --publish-wandb-report {path}"
    if not has_credentials():
        return f"not published (no W&B credentials: set WANDB_API_KEY or run `wandb login`); {later}"
    try:
        return publish(spec)
    except Exception as err:  # network, auth or API trouble: the results stay, the spec can be published later
        log.warning("W&B report not published: %s", err)
        return f"not published ({type(err).__name__}: {err}); {later}"
