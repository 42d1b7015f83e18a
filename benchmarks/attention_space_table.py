"""Table of an attention-space sweep (``benchmarks/attention_space_sweep.sh``): one row per variant,
test accuracy and fit seconds per encoder.

    python benchmarks/attention_space_table.py logs/attention_space                    # print it
    python benchmarks/attention_space_table.py logs/attention_space --out results/attention_space \\
        --wall-s 2400 --command "benchmarks/attention_space_sweep.sh"                # + table.md/csv, MANIFEST

Earlier files in ``--out`` are moved to ``--out/.previous/<time>/``, never overwritten.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from attnbench.reporting.manifest import manifest, publish, staging_dir
from attnbench.reporting.records import collect


def variant(config: dict[str, Any]) -> str:
    att = config["attention"]
    if att["name"] == "none":
        return f"none · {config['pooling']['mode']} pooling"
    if att["name"] == "multihead":
        return f"multihead ({att['heads']} heads) · soft · {att['query']}"
    alignment = att["alignment"] + (f" ({att['hard_estimator']})" if att["alignment"] == "hard" else "")
    hops = f" ({att['hops']} hops)" if att.get("hops", 1) > 1 else ""
    return f"{att['score']} · {alignment} · {att['query']}{hops}"


def tables(records: list[dict[str, Any]]) -> tuple[str, str]:
    """(Markdown, CSV) of the sweep."""
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        cells.setdefault(variant(r["config"]), {})[r["config"]["encoder"]["name"]] = r
    encoders = sorted({enc for row in cells.values() for enc in row})
    header = ["variant (score · alignment · query)"]
    header += [f"{e} {what}" for e in encoders for what in ("test acc", "fit s")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["variant", "encoder", "status", "test_acc", "test_f1_macro", "val_acc", "fit_s", "run_dir"])
    for name in sorted(cells):
        row = [name]
        for enc in encoders:
            r = cells[name].get(enc)
            if r is None:
                row += ["—", "—"]
                continue
            m, fit = r["metrics"], r["timings"].get("fit_s")
            row += [f"{m['test/acc']:.3f}", f"{fit:.0f}"] if r["status"] == "completed" else ["failed", "—"]
            out.writerow(
                [
                    name,
                    enc,
                    r["status"],
                    m.get("test/acc"),
                    m.get("test/f1_macro"),
                    m.get("val/acc"),
                    fit,
                    r.get("run_dir", ""),
                ]
            )
        lines.append("| " + " | ".join(row) + " |")
    done = sum(r["status"] == "completed" for r in records)
    total = sum(r["timings"].get("total_s", 0) for r in records)
    lines += ["", f"{done}/{len(records)} runs completed; their run times add up to {total / 60:.1f} min."]
    return "\n".join(lines) + "\n", buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", type=Path, help="write table.md, table.csv and MANIFEST here")
    parser.add_argument("--wall-s", type=float, default=0.0, help="the sweep's wall time, for the MANIFEST")
    parser.add_argument("--command", default="benchmarks/attention_space_sweep.sh", help="for the MANIFEST")
    args = parser.parse_args(argv)
    records = collect([Path(args.sweep_dir)])
    markdown, table_csv = tables(records)
    sys.stdout.write(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stage = staging_dir(args.out)  # written whole, then moved in: earlier files go to .previous/<time>/
        (stage / "table.md").write_text(markdown)
        (stage / "table.csv").write_text(table_csv)
        (stage / "MANIFEST").write_text(
            manifest(
                args.command,
                args.wall_s,
                {
                    "sweep_dir": args.sweep_dir,
                    "runs": len(records),
                    "runs_git_sha": ",".join(sorted({str(r.get("git_sha")) for r in records})),  # the code that trained
                },
            )
        )
        publish(stage, args.out, ["table.md", "table.csv", "MANIFEST"])


if __name__ == "__main__":
    main()
