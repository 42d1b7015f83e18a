"""The W&B Report of a study, as a plain JSON specification (``results/<name>/wandb_report.json``).

The specification says what the report shows and which runs it reads; :mod:`attnbench.reporting.
wandb_publish` turns it into ``wandb-workspaces`` objects and saves it. Written without credentials
too, so the report can be published later from the file (``attnbench-report --publish-wandb-report``).

Runs are selected as ``loggers.py`` (``conf/logger/wandb.yaml``) names them: group = the study,
job type = the variant; the study's table run has job type ``report`` (:mod:`wandb_table`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from attnbench.reporting.labels import label
from attnbench.reporting.records import Record, lookup, model_name
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table
from attnbench.reporting.wandb_table import PLOT_FILES, report_group, wandb_settings
from attnbench.runtime.record import write_json_atomic

SPEC_FILE = "wandb_report.json"
SPEC_FORMAT = "attnbench-wandb-report/1"
CURVE_METRIC = "val/acc"  # logged every epoch by the tasks (tasks/base.py metric names)
REPORT_JOB_TYPE = "report"  # the job type of the run that holds the comparison table and images
RUN_ID = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[a-z0-9]+)$")


def wandb_run_id(run_dir: str | Path) -> str | None:
    """The W&B id of a job's latest W&B run, from its ``<run dir>/wandb/[offline-]run-<time>-<id>`` folder."""
    folders = sorted((Path(run_dir) / "wandb").glob("*run-*"), key=lambda p: p.name.split("run-", 1)[1])
    ids = [m.group("id") for p in folders if p.is_dir() and (m := RUN_ID.match(p.name))]
    return ids[-1] if ids else None


def run_links(records: list[Record], metric: str) -> list[dict[str, Any]]:
    """One entry per run of the report: label, job type, seed, the table metric and the W&B run id."""
    runs = []
    for r in records:
        wb = ((r.get("config") or {}).get("logger") or {}).get("wandb") or {}
        runs.append(
            {
                "label": model_name(r),
                "name": wb.get("name") or Path(r.get("run_dir") or r["_path"]).name,
                "job_type": wb.get("job_type"),
                "seed": (r.get("config") or {}).get("seed"),
                "status": r.get("status"),
                "metric": metric,
                "value": lookup(r, metric),
                "run_id": wandb_run_id(r.get("run_dir") or Path(r["_path"]).parent),
            }
        )
    return runs


def image_keys(out: Path) -> list[str]:
    """The image keys the table run logs (:func:`wandb_table.log_table_to_wandb`): plots, heatmaps."""
    keys = [f"plots/{name[:-4]}" for name in PLOT_FILES if (out / name).is_file()]
    return keys + [f"heatmaps/{p.stem}" for p in sorted((out / "heatmaps").glob("*.png"))]


def build_spec(table: Table, records: list[Record], study: StudySpec | None, out: Path) -> dict[str, Any]:
    """The report: title and text, the run set (group and job types), and its blocks in order."""
    wb = wandb_settings(records) or {}
    metric = table.metric_of[table.columns[0][0]]
    job_types = sorted({str(j) for r in records if (j := run_job_type(r))})
    group = report_group(records, study)
    text = [f"**{study.question}**" if study and study.question else "", study.description if study else ""]
    blocks: list[dict[str, Any]] = [
        {"kind": "markdown", "text": "\n\n".join(t for t in text if t) or f"Runs of {group or 'attnbench'}."},
        {
            "kind": "bar",
            "title": f"{label(metric)}: mean ± std over seeds, per variant",
            "metric": metric,
            "groupby": "JobType",
            "rangefunc": "stddev",
        },
        {
            "kind": "line",
            "title": f"{label(CURVE_METRIC)} per epoch, per variant (mean ± std over seeds)",
            "x": "epoch",
            "y": [CURVE_METRIC],
            "groupby": "JobType",
            "rangefunc": "stddev",
        },
    ]
    if table.column_key:
        title = f"{label(metric)} against {table.column_key}"
        blocks.append({"kind": "scatter", "title": title, "x": scatter_key(table.column_key, records), "y": metric})
    keys = image_keys(out)
    if keys:
        blocks.append({"kind": "images", "title": "plots and the best run's attention heatmaps", "keys": keys})
    blocks.append({"kind": "table", "title": "comparison table", "table_name": "comparison"})
    blocks.append({"kind": "runs", "title": "runs", "runs": run_links(records, metric)})
    return {
        "format": SPEC_FORMAT,
        "title": f"attnbench · {table.title}"[:128],
        "description": (study.question if study else "") or f"{len(records)} runs",
        "entity": wb.get("entity"),
        "project": wb.get("project", "attnbench"),
        # ad-hoc runs without a group of their own are not filtered by one (the table run is)
        "runset": {"group": group if study or any(run_group(r) for r in records) else None, "job_types": job_types},
        "report_run": {"group": group, "job_type": REPORT_JOB_TYPE},
        "blocks": blocks,
    }


def scatter_key(column_key: str, records: list[Record]) -> str:
    """The run-config key to plot a column against: a Hydra group (``data``) by the option's name, which
    the loggers get as ``choices.<group>`` (the group's own config key is a whole mapping); any other
    key (``data.synthetic.length``) as it is."""
    if any(column_key in (r.get("choices") or {}) for r in records):
        return f"choices.{column_key}"
    return column_key


def run_group(record: Record) -> str | None:
    return (((record.get("config") or {}).get("logger") or {}).get("wandb") or {}).get("group")


def run_job_type(record: Record) -> str | None:
    return (((record.get("config") or {}).get("logger") or {}).get("wandb") or {}).get("job_type")


def runset_filter(group: str | None, job_types: list[str] | None = None) -> str:
    """The run-set filter expression of ``wandb-workspaces``: ``Group = 'g' and JobType in ['a', 'b']``."""
    parts = [f"Group = {group!r}"] if group else []
    if job_types:
        parts.append(f"JobType in [{', '.join(repr(j) for j in job_types)}]")
    return " and ".join(parts)


def save_spec(spec: dict[str, Any], out: Path) -> Path:
    """``out/wandb_report.json``, written to a temporary file and renamed (never half-written)."""
    path = out / SPEC_FILE
    write_json_atomic(path, spec)
    return path


class ReportSpecError(ValueError):
    """A file that is not a report specification this version can publish."""


def read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ReportSpecError(f"{path}: cannot read a report specification: {err}") from None
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise ReportSpecError(f"{path}: not a {SPEC_FORMAT} file (written by --wandb-report)")
    return spec


def has_credentials() -> bool:
    """Whether wandb finds credentials for its configured server, as the loggers decide it."""
    # attnbench.runtime.loggers imports Lightning (seconds): only when a W&B Report is asked for
    from attnbench.runtime.loggers import wandb_credentials_present

    return wandb_credentials_present()
