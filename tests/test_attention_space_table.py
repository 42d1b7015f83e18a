"""``benchmarks/attention_space_table.py`` (the table of ``results/attention_space``) on hand-written run
records: one row per variant, a column pair per encoder, failed runs marked, and a second call keeping the
first call's files in ``.previous/`` (it once imported a helper that no longer existed and failed only
after a 27-minute sweep)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "attention_space_table", REPO / "benchmarks" / "attention_space_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(run_dir: Path, encoder: str, attention: dict, status: str, acc: float, fit: float) -> None:
    run_dir.mkdir(parents=True)
    config = {"encoder": {"name": encoder}, "attention": attention, "pooling": {"mode": "mean"}}
    body = {
        "status": status,
        "config": config,
        "metrics": {"test/acc": acc},
        "timings": {"fit_s": fit, "total_s": 60.0},
    }
    (run_dir / "run.json").write_text(json.dumps(body))


def test_one_row_per_variant_and_earlier_files_kept(tmp_path: Path, capsys) -> None:
    sweep, out = tmp_path / "sweep", tmp_path / "out"
    additive = {"name": "additive", "score": "additive", "alignment": "soft", "query": "self"}
    hard = {"name": "dot", "score": "dot", "alignment": "hard", "hard_estimator": "reinforce", "query": "last"}
    record(sweep / "0", "bilstm", additive, "completed", 0.61234, 17.6)
    record(sweep / "1", "conv1d", additive, "completed", 0.7, 11.2)
    record(sweep / "2", "bilstm", hard, "failed", 0.0, 3.0)
    record(sweep / "3", "conv1d", {"name": "none"}, "completed", 0.684, 2.2)
    script = load_script()
    script.main([str(sweep), "--out", str(out), "--wall-s", "1618", "--command", "sweep.sh"])
    md = (out / "table.md").read_text()
    assert (
        "| variant (score · alignment · query) | bilstm test acc | bilstm fit s | conv1d test acc | conv1d fit s |"
        in md
    )
    assert "| additive · soft · self | 0.612 | 18 | 0.700 | 11 |" in md
    assert "| dot · hard (reinforce) · last | failed | — | — | — |" in md
    assert "| none · mean pooling | — | — | 0.684 | 2 |" in md
    assert "3/4 runs completed; their run times add up to 4.0 min." in md
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [(r["variant"], r["encoder"], r["status"]) for r in rows][:2] == [
        ("additive · soft · self", "bilstm", "completed"),
        ("additive · soft · self", "conv1d", "completed"),
    ]
    manifest = dict(line.split(": ", 1) for line in (out / "MANIFEST").read_text().splitlines() if ": " in line)
    assert (manifest["command"], manifest["wall_time_s"], manifest["runs"]) == ("sweep.sh", "1618.0", "4")
    first = md
    record(sweep / "4", "bilstm", {"name": "none"}, "completed", 0.665, 7.0)
    script.main([str(sweep), "--out", str(out)])
    (previous,) = (out / ".previous").iterdir()
    assert (previous / "table.md").read_text() == first
    assert "| none · mean pooling | 0.665 | 7 | 0.684 | 2 |" in (out / "table.md").read_text()
    assert not list(out.glob(".staging-*"))
    capsys.readouterr()
