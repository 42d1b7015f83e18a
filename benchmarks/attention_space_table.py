"""Table of an attention-space sweep (``benchmarks/attention_space_sweep.sh``): one row per variant,
one column pair (test acc, fit seconds) per encoder. Writes ``<dir>/table.md`` and prints it.

    python benchmarks/attention_space_table.py logs/attention_space
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from attnbench.report import collect_runs


def variant(config: dict[str, Any]) -> str:
    att = config["attention"]
    if att["name"] == "none":
        return f"none, {config['pooling']['mode']} pooling"
    if att["name"] == "multihead":
        return f"multihead ({att['heads']} heads), {att['query']} query"
    alignment = att["alignment"] + (f" ({att['hard_estimator']})" if att["alignment"] == "hard" else "")
    hops = f", {att['hops']} hops" if att.get("hops", 1) > 1 else ""
    return f"{att['score']} · {alignment} · {att['query']}{hops}"


def main(root: str) -> None:
    records = collect_runs(root)
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        cells.setdefault(variant(r["config"]), {})[r["config"]["encoder"]["name"]] = r
    encoders = sorted({enc for row in cells.values() for enc in row})
    header = ["variant (score · alignment · query)"]
    header += [f"{e} {what}" for e in encoders for what in ("test acc", "fit s")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in sorted(cells):
        row = [name]
        for enc in encoders:
            r = cells[name].get(enc)
            if r is None:
                row += ["—", "—"]
            elif r["status"] != "completed":
                row += ["failed", "—"]
            else:
                row += [f"{r['metrics']['test/acc']:.3f}", f"{r['timings'].get('fit_s', 0):.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    done = sum(r["status"] == "completed" for r in records)
    total_fit = sum(r["timings"].get("total_s", 0) for r in records)
    lines.append("")
    lines.append(f"{done}/{len(records)} runs completed; sum of run times {total_fit / 60:.1f} min.")
    text = "\n".join(lines) + "\n"
    (Path(root) / "table.md").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs/attention_space")
