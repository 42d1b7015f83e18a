"""``attnbench-report <sweep dir(s)> --out DIR [--wandb-report]``: aggregate any set of runs into a results
directory; ``attnbench-report --from-results results/<name> [--study NAME]`` rebuilds its tables from
the per-seed values of its ``table.csv`` with the current code;
``attnbench-report --publish-wandb-report results/<name>/wandb_report.json`` publishes a W&B Report whose
specification was written without credentials.

Exit codes: 0 every run completed (or the report was published), 1 a run failed or is missing (or
publishing failed), 2 nothing to aggregate, a bad study or a bad argument.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from attnbench.reporting.reaggregate import reaggregate, study_of_results
from attnbench.reporting.report import print_summary, write_report
from attnbench.reporting.statistics import TableError
from attnbench.reporting.tables import to_markdown
from attnbench.reporting.wandb_report import ReportSpecError, has_credentials
from attnbench.studies.study_file import StudyError, load_study


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attnbench-report", description="Aggregate run.json files into tables, plots and a report page."
    )
    p.add_argument("dirs", nargs="*", help="sweep directories (any set of runs)")
    p.add_argument("--out", default=None, help="results directory (needed with sweep directories)")
    p.add_argument("--study", default=None, help="use this study's table spec (experiments/<name>.yaml)")
    p.add_argument(
        "--metric", action="append", default=None, help="metric column(s), default test/acc and test/f1_macro"
    )
    p.add_argument("--baseline", default=None, help="row label of the baseline for the significance test")
    p.add_argument(
        "--from-results",
        metavar="DIR",
        default=None,
        help="rebuild DIR's tables and pairwise.csv from its table.csv (per-seed values; plots kept)",
    )
    p.add_argument("--no-wandb", action="store_true", help="do not log the table to W&B")
    p.add_argument(
        "--wandb-report",
        action="store_true",
        help="make a W&B Report (published with credentials; else its specification in <out>/wandb_report.json)",
    )
    p.add_argument(
        "--publish-wandb-report",
        metavar="FILE",
        default=None,
        help="publish the W&B Report of a wandb_report.json written earlier (needs credentials)",
    )
    p.add_argument("--entity", default=None, help="W&B entity for --publish-wandb-report (default: the spec's)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.publish_wandb_report:
        return publish_saved(Path(args.publish_wandb_report), args.entity)
    command = "attnbench-report " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.study and (args.metric or args.baseline):
        p.error(
            f"--metric/--baseline do not apply with --study {args.study}: its study file sets table.metrics "
            "and table.baseline (edit them there, or leave out --study for an ad-hoc table)"
        )
    if args.from_results:
        return from_results(Path(args.from_results), args.study, command)
    if not args.dirs or not args.out:
        p.error("give sweep directories and --out (or --from-results DIR, or --publish-wandb-report FILE)")
    try:
        study = load_study(args.study) if args.study else None
        summary = write_report(
            [Path(d) for d in args.dirs],
            Path(args.out),
            study=study,
            command=command,
            log_wandb=not args.no_wandb,
            metrics=args.metric,
            baseline=args.baseline,
            wandb_report=args.wandb_report,
        )
    except (StudyError, TableError, FileNotFoundError) as err:
        print(f"attnbench-report: {err}", file=sys.stderr)
        return 2
    return print_summary(summary, Path(args.out))


def from_results(out: Path, study_name: str | None, command: str) -> int:
    """``--from-results``: re-aggregate ``out`` from its table.csv; 0, or 2 for a bad directory or study."""
    try:
        name = study_name or study_of_results(out)
        if name is None:
            raise StudyError(f"{out}/MANIFEST names no study: give --study NAME")
        result = reaggregate(out, load_study(name), command)
    except (StudyError, TableError, FileNotFoundError) as err:
        print(f"attnbench-report: {err}", file=sys.stderr)
        return 2
    print(to_markdown(result["table"]))
    if result["table"].unlabelled:
        print(f"no label in the registry (attnbench.reporting.labels) for: {', '.join(result['table'].unlabelled)}")
    print(
        f"rewrote {out}: {', '.join(result['files'])}"
        + (f" (earlier in {result['backup']})" if result["backup"] else "")
    )
    return 0


def publish_saved(path: Path, entity: str | None) -> int:
    """Publish a saved report specification: 0 and the URL, 1 when W&B refused, 2 for a bad file."""
    if not has_credentials():
        print("attnbench-report: no W&B credentials (set WANDB_API_KEY or run `wandb login`)", file=sys.stderr)
        return 1
    # wandb_publish imports wandb and wandb-workspaces (about 2 s): only here, not for every report
    from attnbench.reporting.wandb_publish import publish_spec_file

    try:
        url = publish_spec_file(path, entity)
    except ReportSpecError as err:
        print(f"attnbench-report: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # network, auth or API trouble
        print(f"attnbench-report: W&B report not published: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"W&B report: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
