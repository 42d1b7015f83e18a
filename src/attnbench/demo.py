"""``attnbench-demo``: plain BiLSTM vs BiLSTM + additive attention on BBC News, as a real Hydra multirun.

Runs ``attnbench-train -m experiment=demo attention=none,additive``, prints the comparison table and
writes ``table.md``, ``table.csv`` and ``MANIFEST`` to ``results/demo/`` (earlier files there are moved
to ``results/demo/.previous/<time>/``, never overwritten).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from attnbench.report import DEMO_COLUMNS, collect_runs, keep_previous, manifest, table_rows, to_csv, to_markdown

log = logging.getLogger(__name__)
FILES = ["table.md", "table.csv", "MANIFEST"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/demo", help="where the table goes (default: results/demo)")
    p.add_argument("--sweep-dir", default=None, help="Hydra sweep dir (default: logs/demo/multiruns/<time>)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. trainer.max_epochs=2")
    args = p.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)

    sweep_dir = Path(args.sweep_dir or f"logs/demo/multiruns/{time.strftime('%Y-%m-%d_%H-%M-%S')}")
    cmd = [sys.executable, "-m", "attnbench.train", "-m", "experiment=demo", "attention=none,additive",
           f"hydra.sweep.dir={sweep_dir}", *args.overrides]
    shown = "attnbench-train " + " ".join(shlex.quote(c) for c in cmd[3:])
    console.print(f"[bold]attnbench demo[/]: {shown}")
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    wall = time.perf_counter() - started

    records = collect_runs(sweep_dir)
    if not records:
        console.print(f"[red]No run.json under {sweep_dir}: the sweep failed before any run started.[/]")
        return proc.returncode or 1
    headers = ["model", *[c.header for c in DEMO_COLUMNS]]
    rows = table_rows(records, DEMO_COLUMNS)

    table = Table(title=f"BBC News test split ({records[0]['data'].get('test/size', '?')} articles)")
    for h in headers:
        table.add_column(h, justify="left" if h == "model" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backup = keep_previous(out, FILES)
    if backup:
        console.print(f"previous results moved to {backup}")
    (out / "table.md").write_text(
        "# BBC News: plain BiLSTM vs BiLSTM + additive attention\n\n"
        + to_markdown(headers, rows)
        + f"\nTest metrics use the best checkpoint by validation accuracy. Sweep: `{sweep_dir}`.\n"
    )
    (out / "table.csv").write_text(to_csv(headers, records, DEMO_COLUMNS))
    (out / "MANIFEST").write_text(manifest("make demo  # = " + shown, wall, {"sweep_dir": str(sweep_dir)}))
    console.print(f"wrote {out}/table.md, table.csv, MANIFEST  (wall time {wall:.0f} s)")
    failed = [r["_path"] for r in records if r["status"] != "completed"]
    return 1 if failed or proc.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
