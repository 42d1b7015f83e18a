"""``attnbench-study <name> [hydra overrides] [--launcher ...] [--jobs N] [--out DIR]``: run a named study
(``experiments/<name>.yaml``, resuming what an earlier call left) and write its results. Options and
overrides go in any order; the progress shows while the runs go (``--quiet``: none).

Exit codes: 0 every run completed, 1 a run failed or is missing (or the multirun started none),
2 a bad study file or argument.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from attnbench.reporting.report import print_summary, write_report
from attnbench.reporting.statistics import TableError
from attnbench.studies.runner import LAUNCHERS, call_history, run_study
from attnbench.studies.study_file import Study, StudyError, available_studies, load_study
from attnbench.studies.watch import StudyWatcher


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attnbench-study",
        description="Run a named study (experiments/<name>.yaml) and write its results.",
        epilog=f"Studies: {', '.join(available_studies())}",
    )
    p.add_argument("name", help="study name (experiments/<name>.yaml) or a study YAML file")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.max_epochs=2")
    p.add_argument("--launcher", default="joblib", choices=LAUNCHERS, help="Hydra launcher (default: joblib)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel jobs (default: min(2, cores) with joblib, else 1); torch threads per job = cores / jobs",
    )
    p.add_argument("--out", default=None, help="results directory (default: results/<name>)")
    p.add_argument(
        "--sweep-dir",
        default=None,
        help="where the runs go (default: logs/studies/<name>); the same directory resumes the study",
    )
    p.add_argument("--no-run", action="store_true", help="only aggregate the runs already in the sweep dir")
    p.add_argument(
        "--quiet", action="store_true", help="no progress display (by default: live on a terminal, else a line per run)"
    )
    p.add_argument(
        "--no-wandb",
        action="store_true",
        help="do not log the aggregated table to W&B (the runs' own logger is an override: logger=csv, logger=none)",
    )
    p.add_argument(
        "--wandb-report",
        action="store_true",
        help="make a W&B Report of the study (published with credentials; else results/<name>/wandb_report.json)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sweep_dir = Path(".")
    try:
        study = load_study(args.name)
        jobs = args.jobs or (min(2, os.cpu_count() or 1) if args.launcher == "joblib" else 1)
        if jobs < 1:
            raise StudyError(f"--jobs {jobs}: give 1 or more")
        sweep_dir = Path(
            args.sweep_dir or Path(os.environ.get("ATTNBENCH_ROOT", ".")) / "logs" / "studies" / study.name
        )
        out = Path(args.out or Path("results") / study.name)
        if args.no_run and not any(sweep_dir.rglob("run.json")):
            print(no_runs_yet(study.name, args.name, sweep_dir, args.sweep_dir), file=sys.stderr)
            return 1
        info = run(study, sweep_dir, args, jobs)
        command = "attnbench-study " + shlex.join([*sys.argv[1:]] if argv is None else argv)
        summary = write_report(
            [sweep_dir],
            out,
            study=study,
            command=command,
            run_info=info,
            log_wandb=not args.no_wandb,
            wandb_report=args.wandb_report,
        )
    except (StudyError, TableError) as err:
        print(f"attnbench-study: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:  # the multirun failed before any run started
        log_file = sweep_dir / "study.log"
        tail = log_file.read_text().splitlines()[-15:] if log_file.is_file() else []
        print(f"attnbench-study: {err}. The end of {log_file}:\n" + "\n".join(tail), file=sys.stderr)
        return 1
    return print_summary(summary, out)


def no_runs_yet(name: str, given: str, sweep_dir: Path, given_dir: str | None) -> str:
    """What ``--no-run`` says when the sweep directory holds no run yet: how to run the study."""
    command = f"attnbench-study {shlex.quote(given)}" + (f" --sweep-dir {shlex.quote(given_dir)}" if given_dir else "")
    return (
        f"attnbench-study: no runs of study {name} in {sweep_dir} yet, so --no-run has nothing to aggregate. "
        f"Run them (and get the results) with: {command}"
    )


def run(study: Study, sweep_dir: Path, args: argparse.Namespace, jobs: int) -> dict[str, Any]:
    """The sweep (unless ``--no-run``), with a line before and after it; its counts for the MANIFEST."""
    if args.no_run:
        calls = call_history(sweep_dir) or "none recorded"
        return {"runs": study.num_runs, "wall_s": 0.0, "launcher": "none (--no-run)", "jobs": 0, "calls": calls}
    print(f"attnbench-study {study.name}: {study.num_runs} runs → {sweep_dir}", flush=True)
    if args.quiet:
        info = run_study(study, sweep_dir, args.overrides, args.launcher, jobs)
    else:
        with StudyWatcher(study, sweep_dir, check_pids=args.launcher != "submitit_slurm") as watcher:
            info = run_study(study, sweep_dir, args.overrides, args.launcher, jobs, watch=watcher.update)
    print(
        f"  {info['completed']}/{info['runs']} completed ({info['reused']} reused), "
        f"wall {info['wall_s']:.0f} s; log: {sweep_dir / 'study.log'}",
        flush=True,
    )
    return info


if __name__ == "__main__":
    sys.exit(main())
