"""The study's table, logged once to W&B as a ``wandb.Table`` in a ``job_type=report`` run (with the
plots and the best run's attention heatmaps as images)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from attnbench.reporting.records import Record
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table
from attnbench.reporting.tables import headers, plain_rows

PLOT_FILES = ("bar.png", "length.png")


def wandb_settings(records: list[Record]) -> dict[str, Any] | None:
    """The W&B logger config of the first run that used W&B, or None when none did."""
    return next((c for r in records if (c := ((r.get("config") or {}).get("logger") or {}).get("wandb"))), None)


def report_group(records: list[Record], study: StudySpec | None) -> str:
    """The W&B group of a report's runs: the study's name, else the runs' own group, else one named after
    the set of runs (``report-<hash>``), so a report of ad-hoc runs finds its own table run only."""
    if study:
        return study.name
    group = next(
        (g for r in records if (g := (((r.get("config") or {}).get("logger") or {}).get("wandb") or {}).get("group"))),
        None,
    )
    if group:
        return str(group)
    dirs = sorted(str(r.get("run_dir") or r.get("_path")) for r in records)
    return "report-" + hashlib.sha256("\n".join(dirs).encode()).hexdigest()[:12]


def table_run_id(project: str, group: str) -> str:
    """The fixed W&B id of a group's table run: every report of the study updates that one run
    (``resume="allow"``) instead of adding one more that the report's filter would also match."""
    return "table-" + hashlib.sha256(f"{project}/{group}".encode()).hexdigest()[:16]


def log_table_to_wandb(
    table: Table, records: list[Record], study: StudySpec | None, out: Path, save_dir: Path
) -> str | None:
    """Log the comparison once as a ``wandb.Table`` (and the plots) in a ``job_type=report`` run of the
    study's group; offline without credentials. Returns the run's local directory, or None when the
    runs did not use W&B."""
    wb = wandb_settings(records)
    if not wb:
        return None
    # wandb and Lightning (under attnbench.runtime.loggers) take seconds to import: only for runs that used W&B
    import wandb

    from attnbench.config.runtime import WandbConfig
    from attnbench.runtime.loggers import start_wandb_run
    from attnbench.runtime.run_record import finish_wandb_run

    project, group = wb.get("project", "attnbench"), report_group(records, study)
    run = start_wandb_run(
        wb.get("mode", "auto"),
        float(wb.get("init_timeout", WandbConfig.init_timeout)),
        float(wb.get("finish_timeout", WandbConfig.finish_timeout)),
        project=project,
        entity=wb.get("entity"),
        group=group,
        job_type="report",
        name=f"{group}-table",
        dir=str(save_dir),
        id=table_run_id(project, group),
    )
    columns: list[str | int] = [*headers(table)]
    run.log({"comparison": wandb.Table(columns=columns, data=plain_rows(table))})
    for name in PLOT_FILES:
        if (out / name).is_file():
            run.log({f"plots/{name[:-4]}": wandb.Image(str(out / name))})
    for path in sorted((out / "heatmaps").glob("*.png")):  # the best run's attention, for the W&B Report
        run.log({f"heatmaps/{path.stem}": wandb.Image(str(path))})
    if (out / "examples.html").is_file():  # the best run's highlighted examples, one self-contained page
        run.log({"examples": wandb.Html((out / "examples.html").read_text())})
    run.summary["runs"] = len(records)
    directory = run.dir
    finish_wandb_run(run, exit_code=0)
    return str(Path(directory).parent)
