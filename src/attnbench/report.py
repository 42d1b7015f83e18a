"""Collect ``run.json`` records and render comparison tables (Markdown, CSV) and a MANIFEST."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnbench.record import RUN_FILE, environment, git_sha


def collect_runs(*dirs: str | Path) -> list[dict[str, Any]]:
    """Every ``run.json`` under the given directories (sorted by path)."""
    records = []
    for d in dirs:
        for path in sorted(Path(d).rglob(RUN_FILE)):
            record = json.loads(path.read_text())
            record["_path"] = str(path)
            records.append(record)
    return records


def describe(config: dict[str, Any]) -> str:
    """A readable model name: ``BiLSTM + additive attention`` / ``BiLSTM (last-state pooling)``."""
    enc = {"bilstm": "BiLSTM", "conv1d": "Conv1D"}.get(config["encoder"]["name"], config["encoder"]["name"])
    att = config["attention"]
    if att["name"] == "none":
        mode = config["pooling"]["mode"]
        return f"{enc} ({'last-state' if mode == 'last' else mode} pooling)"
    hops = f", {att['hops']} hops" if att.get("hops", 1) > 1 else ""
    return f"{enc} + {att['score']} attention{hops}"


@dataclass(frozen=True)
class Column:
    """One table column: ``record[section][key]`` (or ``record[key]`` without a section), formatted."""

    header: str
    key: str
    section: str | None = None
    fmt: str = "{:.4f}"

    def value(self, record: dict[str, Any]) -> Any:
        return (record.get(self.section) or {} if self.section else record).get(self.key)

    def text(self, record: dict[str, Any]) -> str:
        v = self.value(record)
        return "—" if v is None else self.fmt.format(v)


DEMO_COLUMNS = [
    Column("test acc", "test/acc", "metrics"),
    Column("test macro-F1", "test/f1_macro", "metrics"),
    Column("best val acc", "val/acc", "metrics"),
    Column("train time (s)", "fit_s", "timings", "{:.1f}"),
    Column("epochs", "epochs", fmt="{}"),
    Column("parameters", "params", fmt="{:,}"),
]


def table_rows(records: list[dict[str, Any]], columns: list[Column]) -> list[list[str]]:
    rows = []
    for r in records:
        name = describe(r["config"])
        if r["status"] != "completed":
            rows.append([name] + ["failed"] + [""] * (len(columns) - 1))
        else:
            rows.append([name] + [c.text(r) for c in columns])
    return rows


def to_markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(headers: list[str], records: list[dict[str, Any]], columns: list[Column]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "status", *[c.header for c in columns], "run_dir"])
    for r in records:
        w.writerow([describe(r["config"]), r["status"], *[c.value(r) for c in columns], r.get("run_dir", "")])
    return buf.getvalue()


def manifest(command: str, wall_s: float, extra: dict[str, Any] | None = None) -> str:
    env = environment()
    lines = [
        f"command: {command}",
        f"git_sha: {git_sha()}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"wall_time_s: {wall_s:.1f}",
        *[f"{k}: {v}" for k, v in env.items()],
        *[f"{k}: {v}" for k, v in (extra or {}).items()],
    ]
    return "\n".join(lines) + "\n"


def keep_previous(out: Path, names: list[str]) -> Path | None:
    """Move existing result files to ``out/.previous/<time>/`` so nothing is silently overwritten."""
    existing = [out / n for n in names if (out / n).exists()]
    if not existing:
        return None
    backup = out / ".previous" / time.strftime("%Y%m%d-%H%M%S")
    backup.mkdir(parents=True, exist_ok=True)
    for p in existing:
        shutil.move(str(p), backup / p.name)
    return backup
