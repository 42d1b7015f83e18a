"""A study you can watch: the progress model counted from hand-written ``run.json`` files, options and
overrides in any order, and a real tiny study whose captured (non-terminal) output has one line per
finished run — the same run checks its W&B Report specification (no credentials in tests)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from attnbench.cli import report as report_cli
from attnbench.cli.study import parser
from attnbench.studies.progress import format_seconds, scan
from attnbench.studies.study_file import load_study
from attnbench.studies.watch import StudyWatcher

from .helpers import TINY_OVERRIDES, subprocess_env

pytestmark = pytest.mark.xdist_group("watched_study")

WATCHED_STUDY = {
    "description": "A tiny attention model and a variant that fails, for the progress tests.",
    "question": "Does the progress display count every run?",
    "overrides": [
        *TINY_OVERRIDES,
        "encoder.hidden_size=16",
        "debug=limit",
        "callbacks=[default,attention_heatmaps]",
        "callbacks.attention_heatmaps.num_examples=1",
        "callbacks.rich_progress_bar=null",
    ],
    "seeds": [1, 2],
    "variants": {
        "additive": {"label": "BiLSTM + additive", "overrides": ["attention=additive", "attention.hidden_size=16"]},
        # composes, then fails when the Trainer is built
        "broken": {"label": "broken on purpose", "overrides": ["trainer.precision=nonsense"]},
    },
    "table": {"metric": "test/acc"},
}


# ---- the progress model, from hand-written records -----------------------------------------------------


def write_record(sweep: Path, job: str, **fields: Any) -> None:
    (sweep / job).mkdir(parents=True, exist_ok=True)
    (sweep / job / "run.json").write_text(json.dumps(fields))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_progress_counts_runs_from_the_records(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    variants = {v: {"label": v.upper()} for v in ("a", "b", "c", "d")}
    path.write_text(yaml.safe_dump({"seeds": [1, 2], "variants": variants}))
    study = load_study(path)
    sweep, since = tmp_path / "sweep", 1_000_000.0
    # before this call: a completed run (reused) and a failed one (it will run again: pending)
    write_record(sweep, "a/seed=1", status="completed", started_at=since - 100, metrics={"test/acc": 0.5})
    write_record(sweep, "a/seed=2", status="failed", started_at=since - 90)
    # this call: b/seed=1 completed at +11 s, b/seed=2 failed at +5 s, c/seed=1 runs, c/seed=2 was killed
    write_record(
        sweep, "b/seed=1", status="completed", started_at=since + 1, timings={"total_s": 10}, metrics={"test/acc": 0.8}
    )
    write_record(sweep, "b/seed=2", status="failed", started_at=since + 2, timings={"total_s": 3})
    write_record(sweep, "c/seed=1", status="running", started_at=since + 12, pid=os.getpid())
    write_record(sweep, "c/seed=2", status="running", started_at=since + 13, pid=dead_pid())
    (sweep / "d" / "seed=1").mkdir(parents=True)
    (sweep / "d" / "seed=1" / "run.json").write_text('{"status": "runn')  # half-written: not counted yet
    p = scan(study, sweep, since, now=since + 20)
    assert (p.total, p.completed, p.failed, p.running, p.pending, p.reused) == (8, 2, 2, 1, 3, 1)
    assert [(r.label, r.status) for r in p.finished] == [
        ("b/seed=2", "failed"),
        ("b/seed=1", "completed"),
        ("c/seed=2", "failed"),
    ]
    assert p.eta_s == pytest.approx((1 + 3) * 20 / 3)  # runs left × wall time per finished run
    assert p.last is not None and p.last.label == "c/seed=2"
    assert p.line().startswith("[4/8] 2 completed, 2 failed, 1 running, 3 pending · 20 s elapsed, ETA 27 s")
    # one line per run as it ended: the counts at that moment
    first, second = p.at(0), p.at(1)
    assert (first.completed, first.failed, first.elapsed_s) == (1, 1, 5.0)
    assert first.line().startswith("[2/8] 1 completed, 1 failed")
    assert second.line().endswith("last: b/seed=1 completed, test/acc 0.800")
    # jobs on other hosts (SLURM): a process id says nothing here, the record counts as running
    p = scan(study, sweep, since, now=since + 20, check_pids=False)
    assert (p.completed, p.failed, p.running, p.pending) == (2, 1, 2, 3)
    assert scan(study, sweep, since + 1000, now=since + 1000).eta_s is None  # nothing finished yet
    assert [format_seconds(s) for s in (42, 185, 7620)] == ["42 s", "3 min 05 s", "2 h 07 min"]


def test_watcher_prints_each_finished_run_once_when_not_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"seeds": [1, 2, 3], "variants": {"a": {"label": "A"}}}))
    study, sweep, screen = load_study(path), tmp_path / "sweep", io.StringIO()
    with StudyWatcher(study, sweep, console=Console(file=screen, soft_wrap=True)) as watcher:
        since = watcher.since
        write_record(sweep, "a/seed=2", status="completed", started_at=since + 5, timings={"total_s": 4})
        watcher.update()
        watcher.update()  # nothing new: nothing printed
        # a record that shows up late, though its run ended first, is printed once too
        write_record(sweep, "a/seed=1", status="failed", started_at=since + 1, timings={"total_s": 1})
        watcher.update()
        write_record(sweep, "a/seed=3", status="completed", started_at=since + 9, timings={"total_s": 1})
    lines = screen.getvalue().splitlines()
    assert [line.split(" · last: ")[1].split(" ")[0] for line in lines] == ["a/seed=2", "a/seed=1", "a/seed=3"]
    assert lines[0].startswith("s [1/3] 1 completed, 0 failed, 0 running, 2 pending")
    assert lines[-1].startswith("s [3/3] 2 completed, 1 failed, 0 running, 0 pending")


def test_watcher_on_a_terminal_shows_a_live_panel_then_the_final_counts(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"seeds": [1, 2], "variants": {"a": {"label": "A"}}}))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, highlight=False)
    with StudyWatcher(load_study(path), tmp_path / "sweep", console=console) as watcher:
        assert watcher.live is not None
        write_record(
            tmp_path / "sweep", "a/seed=1", status="completed", started_at=watcher.since, metrics={"test/acc": 0.9}
        )
        watcher.update()
    text = screen.getvalue()
    assert "1 completed" in text and "last: a/seed=1 completed, test/acc 0.900" in text
    assert "[1/2] 1 completed, 0 failed, 0 running, 1 pending" in text.splitlines()[-1]  # after the cursor code


# ---- options and overrides in any order ----------------------------------------------------------------


def test_options_and_overrides_in_any_order() -> None:
    args = parser().parse_intermixed_args(["keras_conv1d", "--jobs", "2", "trainer.max_epochs=1"])
    assert (args.name, args.jobs, args.overrides) == ("keras_conv1d", 2, ["trainer.max_epochs=1"])
    args = parser().parse_intermixed_args(["demo", "a=1", "--quiet", "b=2", "--launcher", "basic", "c=3"])
    assert (args.name, args.overrides, args.quiet, args.launcher) == ("demo", ["a=1", "b=2", "c=3"], True, "basic")


# ---- a real tiny study, watched --------------------------------------------------------------------------


@pytest.fixture(scope="session")  # once per worker, however xdist interleaves modules
def watched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("watched-study")
    study_file = base / "watched.yaml"
    study_file.write_text(yaml.safe_dump(WATCHED_STUDY, sort_keys=False))
    # options first, overrides after them and between them; the basic launcher runs the jobs in the
    # multirun's own process (no worker start-ups: the cheapest real study)
    cmd = [sys.executable, "-m", "attnbench.cli.study", str(study_file), "--launcher", "basic"]
    cmd += ["model.embedding_dim=16", "--sweep-dir", str(base / "sweep"), "data.max_vocab=2000"]
    cmd += ["--out", str(base / "out"), "--wandb-report"]
    env = subprocess_env(base)
    proc = subprocess.run(cmd, cwd=base, env=env, capture_output=True, text=True, timeout=600)
    return {"base": base, "proc": proc, "sweep": base / "sweep", "out": base / "out", "file": study_file}


def test_non_terminal_output_has_one_line_per_finished_run(watched: dict[str, Any]) -> None:
    proc = watched["proc"]
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # "broken" fails: exit 1
    assert "unrecognized arguments" not in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("watched [")]
    assert len(lines) == 4, proc.stdout
    counts = [re.match(r"watched \[(\d)/4\] (\d) completed, (\d) failed", line) for line in lines]
    assert all(counts), lines
    assert [int(m.group(1)) for m in counts if m] == [1, 2, 3, 4]
    assert lines[-1].startswith("watched [4/4] 2 completed, 2 failed, 0 running, 0 pending")
    finished = {re.search(r"last: (\S+) ", line).group(1) for line in lines}  # type: ignore[union-attr]
    assert finished == {f"{v}/seed={s}" for v in ("additive", "broken") for s in (1, 2)}
    completed = [line for line in lines if "additive/" in line.split("last: ")[1]]
    assert all(re.search(r"completed, test/acc \d\.\d{3}$", line) for line in completed), completed
    # both overrides placed among the options reached every run
    for path in watched["sweep"].glob("*/*/run.json"):
        config = json.loads(path.read_text())["config"]
        assert (config["data"]["max_vocab"], config["model"]["embedding_dim"]) == (2000, 16)


def test_wandb_report_spec_without_credentials(watched: dict[str, Any]) -> None:
    proc, out, sweep = watched["proc"], watched["out"], watched["sweep"]
    said = [line for line in proc.stdout.splitlines() if line.startswith("W&B report: ")]
    assert len(said) == 1 and "not published (no W&B credentials" in said[0], proc.stdout[-2000:]
    manifest = dict(line.split(": ", 1) for line in (out / "MANIFEST").read_text().splitlines() if ": " in line)
    assert manifest["wandb_report"] == said[0].removeprefix("W&B report: ")
    spec = json.loads((out / "wandb_report.json").read_text())
    assert str(out / "wandb_report.json") in said[0]
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/*/run.json"))]
    wandb_cfg = [r["config"]["logger"]["wandb"] for r in records]
    # the run set is the runs as loggers.py names them: group = study, job type = variant
    assert spec["runset"] == {"group": "watched", "job_types": sorted({w["job_type"] for w in wandb_cfg})}
    assert {w["group"] for w in wandb_cfg} == {"watched"} and spec["runset"]["job_types"] == ["additive", "broken"]
    assert spec["report_run"] == {"group": "watched", "job_type": "report"}
    kinds = [b["kind"] for b in spec["blocks"]]
    assert kinds == ["markdown", "bar", "line", "images", "table", "runs"]  # no grid: no length plot
    blocks = {b["kind"]: b for b in spec["blocks"]}
    assert "Does the progress display count every run?" in blocks["markdown"]["text"]
    completed = [r for r in records if r["status"] == "completed"]
    assert len(completed) == 2
    # every metric a chart reads is one the runs recorded
    for r in completed:
        assert blocks["bar"]["metric"] in r["metrics"]
        assert all(key in r["metrics"] for key in blocks["line"]["y"])
    assert (blocks["bar"]["groupby"], blocks["bar"]["rangefunc"]) == ("JobType", "stddev")
    heatmaps = sorted(f"heatmaps/{p.stem}" for p in (out / "heatmaps").glob("*.png"))
    assert heatmaps and set(heatmaps) <= set(blocks["images"]["keys"]) and "plots/bar" in blocks["images"]["keys"]
    assert blocks["table"]["table_name"] == "comparison"
    runs = {(r["job_type"], r["seed"]): r for r in blocks["runs"]["runs"]}
    assert set(runs) == {(v, s) for v in ("additive", "broken") for s in (1, 2)}
    for r in completed:
        offline = list((Path(r["run_dir"]) / "wandb").glob("offline-run-*"))
        entry = runs[("additive", r["config"]["seed"])]
        assert entry["value"] == r["metrics"]["test/acc"]
        assert entry["run_id"] and offline[-1].name.endswith(f"-{entry['run_id']}")
    # publishing later from the file needs credentials: one line, exit 1
    rc = report_cli.main(["--publish-wandb-report", str(out / "wandb_report.json")])
    assert rc == 1
