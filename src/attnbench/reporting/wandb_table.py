"""The study's table, logged once to W&B as a ``wandb.Table`` in a ``job_type=report`` run (with the
plots and the best run's attention heatmaps as images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

from attnbench.reporting.records import Record
from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table
from attnbench.reporting.tables import headers, plain_rows

PLOT_FILES = ("bar.png", "length.png")
WandbMode = Literal["online", "offline", "disabled", "shared"]  # what resolve_wandb_mode returns (a str)


def wandb_settings(records: list[Record]) -> dict[str, Any] | None:
    """The W&B logger config of the first run that used W&B, or None when none did."""
    return next((c for r in records if (c := ((r.get("config") or {}).get("logger") or {}).get("wandb"))), None)


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

    from attnbench.runtime.loggers import resolve_wandb_mode

    run = wandb.init(
        project=wb.get("project", "attnbench"),
        entity=wb.get("entity"),
        group=study.name if study else wb.get("group"),
        job_type="report",
        name=f"{study.name if study else 'runs'}-table",
        dir=str(save_dir),
        mode=cast(WandbMode, resolve_wandb_mode(wb.get("mode", "auto"))),
        reinit="finish_previous",
        settings=wandb.Settings(silent=True),
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
    run.finish()
    return str(Path(directory).parent)
