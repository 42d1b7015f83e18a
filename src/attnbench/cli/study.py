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
from attnbench.studies.study_file import Study, StudyError, available_studies, load_study, select_variants
from attnbench.studies.sweep import LOCAL_LAUNCHERS, Pool
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
    p.add_argument(
        "--devices",
        default=None,
        help="device pool: the GPU ids runs are placed on, e.g. 0,1,3 (default with a local launcher: every "
        "visible GPU; none: no pool); on a machine without GPUs the slots are still taken and recorded",
    )
    p.add_argument(
        "--runs-per-device",
        type=int,
        default=1,
        help="K: runs that share one device at once (default 1); --jobs defaults to devices x K",
    )
    p.add_argument("--out", default=None, help="results directory (default: results/<name>)")
    p.add_argument(
        "--sweep-dir",
        default=None,
        help="where the runs go (default: logs/studies/<name>); the same directory resumes the study",
    )
    p.add_argument(
        "--variants",
        default=None,
        help="run and report only these variants (ids of the study file, e.g. bilstm_last,bilstm_additive; "
        "the baseline among them); the rest are named in the MANIFEST; a later call with the same "
        "--sweep-dir and no --variants runs what is left",
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
        if args.variants is not None:
            study = select_variants(study, args.variants)
        devices = pool_devices(args.devices, args.launcher, args.runs_per_device)
        default_jobs = min(2, os.cpu_count() or 1) if args.launcher == "joblib" else 1
        jobs = args.jobs or (len(devices) * args.runs_per_device if devices else default_jobs)
        if jobs < 1:
            raise StudyError(f"--jobs {jobs}: give 1 or more")
        sweep_dir = Path(
            args.sweep_dir or Path(os.environ.get("ATTNBENCH_ROOT", ".")) / "logs" / "studies" / study.name
        )
        out = Path(args.out or Path("results") / study.name)
        if args.no_run and not any(sweep_dir.rglob("run.json")):
            print(no_runs_yet(study.name, args.name, sweep_dir, args.sweep_dir), file=sys.stderr)
            return 1
        info = run(study, sweep_dir, args, jobs, devices)
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


def pool_devices(spec: str | None, launcher: str, runs_per_device: int) -> list[int] | None:
    """The devices of the pool from ``--devices`` (``none``: no pool); unset: every visible GPU with a
    launcher that places nothing itself (basic, joblib, submitit_local), else no pool."""
    if runs_per_device < 1:
        raise StudyError(f"--runs-per-device {runs_per_device}: give 1 or more")
    if spec is not None and spec.strip().lower() == "none":
        return None
    if spec is not None and launcher not in LOCAL_LAUNCHERS:
        raise StudyError(
            f"--devices {spec} with --launcher {launcher}: the pool places runs only with a local launcher "
            f"({', '.join(LOCAL_LAUNCHERS)}); {launcher}'s scheduler places them (give its resources as "
            "hydra.launcher.* overrides), so leave --devices out"
        )
    if spec is None:
        if launcher not in LOCAL_LAUNCHERS:
            return None
        import torch  # here, not at the top: a second of start-up, only when the pool's devices are not given)

        return list(range(torch.cuda.device_count())) or None
    try:
        devices = [int(d) for d in spec.split(",") if d.strip()]
    except ValueError:
        raise StudyError(f"--devices {spec}: give device ids separated by commas, e.g. --devices 0,1,3") from None
    if not devices or len(set(devices)) != len(devices):
        raise StudyError(f"--devices {spec}: give each device id once, e.g. --devices 0,1,3")
    return devices


def run(
    study: Study, sweep_dir: Path, args: argparse.Namespace, jobs: int, devices: list[int] | None = None
) -> dict[str, Any]:
    """The sweep (unless ``--no-run``), with a line before and after it; its counts for the MANIFEST."""
    if args.no_run:
        calls = call_history(sweep_dir) or "none recorded"
        return {"runs": study.num_runs, "wall_s": 0.0, "launcher": "none (--no-run)", "jobs": 0, "calls": calls}
    print(f"attnbench-study {study.name}: {study.num_runs} runs → {sweep_dir}", flush=True)
    pool = Pool(devices, args.runs_per_device) if devices else None
    if args.quiet:
        info = run_study(study, sweep_dir, args.overrides, args.launcher, jobs, pool=pool)
    else:
        with StudyWatcher(study, sweep_dir, check_pids=args.launcher != "submitit_slurm") as watcher:
            info = run_study(study, sweep_dir, args.overrides, args.launcher, jobs, watcher.update, pool)
    print(
        f"  {info['completed']}/{info['runs']} completed ({info['reused']} reused), "
        f"wall {info['wall_s']:.0f} s; log: {sweep_dir / 'study.log'}",
        flush=True,
    )
    return info


if __name__ == "__main__":
    sys.exit(main())
