"""``attnbench-report <sweep dir(s)> --out DIR``: aggregate any set of runs into a results directory.

Exit codes: 0 every run completed, 1 a run failed or is missing, 2 nothing to aggregate or a bad study.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from attnbench.reporting.report import print_summary, write_report
from attnbench.studies.study_file import StudyError, load_study


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attnbench-report", description="Aggregate run.json files into tables, plots and a report page."
    )
    p.add_argument("dirs", nargs="+", help="sweep directories (any set of runs)")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("--study", default=None, help="use this study's table spec (experiments/<name>.yaml)")
    p.add_argument(
        "--metric", action="append", default=None, help="metric column(s), default test/acc and test/f1_macro"
    )
    p.add_argument("--baseline", default=None, help="row label of the baseline for the significance test")
    p.add_argument("--no-wandb", action="store_true", help="do not log the table to W&B")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        study = load_study(args.study) if args.study else None
        command = "attnbench-report " + shlex.join(sys.argv[1:] if argv is None else argv)
        summary = write_report(
            [Path(d) for d in args.dirs],
            Path(args.out),
            study=study,
            command=command,
            log_wandb=not args.no_wandb,
            metrics=args.metric,
            baseline=args.baseline,
        )
    except (StudyError, FileNotFoundError) as err:
        print(f"attnbench-report: {err}", file=sys.stderr)
        return 2
    return print_summary(summary, Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
