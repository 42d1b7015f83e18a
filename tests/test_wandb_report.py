"""The W&B Report of a study with a length axis, from run records written here: its specification, and the
``wandb-workspaces`` objects built from it without a network (publishing needs credentials: skipped
without them)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import wandb_workspaces.expr as wexpr
import wandb_workspaces.reports.v2 as wr
import yaml

from attnbench.reporting.report import write_report
from attnbench.reporting.wandb_publish import build_report, publish
from attnbench.reporting.wandb_report import read_spec, scatter_key
from attnbench.reporting.wandb_table import report_group, table_run_id
from attnbench.studies.study_file import load_study

# read before the autouse fixture removes it: the online test publishes with the caller's own key
ONLINE_KEY = os.environ.get("WANDB_API_KEY")
ACC = {("plain", 8): [0.50, 0.52], ("plain", 16): [0.30, 0.31], ("attn", 8): [0.90, 0.93], ("attn", 16): [0.88, 0.9]}


def grid_study(tmp_path: Path) -> tuple[Any, Path]:
    """A study with a length axis, and its records as train.run writes them (W&B names as loggers.py sets)."""
    path = tmp_path / "lengths.yaml"
    spec = {
        "question": "Does attention keep up with length?",
        "description": "Two variants, two lengths, two seeds.",
        "seeds": [1, 2],
        "variants": {"plain": {"label": "plain"}, "attn": {"label": "attention"}},
        "grid": {"data.synthetic.length": [8, 16]},
        "table": {"columns": "data.synthetic.length", "metric": "test/acc"},
        "plots": ["bar", "length"],
    }
    path.write_text(yaml.safe_dump(spec))
    study = load_study(path)
    sweep = tmp_path / "sweep"
    for (variant, length), values in ACC.items():
        for seed, value in zip((1, 2), values, strict=True):
            run_dir = sweep / variant / f"data.synthetic.length={length},seed={seed}"
            (run_dir / "wandb" / f"offline-run-20260101_12000{seed}-{variant}{length}s{seed}").mkdir(parents=True)
            wandb = {"project": "attnbench", "group": study.name, "job_type": variant, "name": f"{variant}/{seed}"}
            config = {
                "seed": seed,
                "study": {"name": study.name, "variant": variant, "label": variant},
                "data": {"synthetic": {"length": length}},
                "attention": {"name": "none"},
                "logger": {"wandb": wandb},
            }
            record = {
                "status": "completed",
                "config": config,
                "run_dir": str(run_dir),
                "metrics": {"test/acc": value, "val/acc": value - 0.01},
                "timings": {"total_s": 1.0},
            }
            (run_dir / "run.json").write_text(json.dumps(record))
    return study, sweep


def test_spec_of_a_length_study_and_its_objects_built_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")  # a self-hosted server: links go there
    study, sweep = grid_study(tmp_path)
    out = tmp_path / "out"
    summary = write_report([sweep], out, study=study, command="test", log_wandb=False, wandb_report=True)
    assert summary["wandb_report"].startswith("not published (no W&B credentials")
    assert "wandb_report.json" in summary["files"] and not list(out.glob("*.tmp*"))
    spec = read_spec(out / "wandb_report.json")
    blocks = {b["kind"]: b for b in spec["blocks"]}
    assert [b["kind"] for b in spec["blocks"]] == ["markdown", "bar", "line", "scatter", "images", "table", "runs"]
    assert (blocks["scatter"]["x"], blocks["scatter"]["y"]) == ("data.synthetic.length", "test/acc")
    assert blocks["images"]["keys"] == ["plots/bar", "plots/length"]  # no attention run: no heatmaps
    assert spec["runset"] == {"group": "lengths", "job_types": ["attn", "plain"]}
    runs = blocks["runs"]["runs"]
    assert len(runs) == 8 and {r["run_id"] for r in runs} == {f"{v}{n}s{s}" for v, n in ACC for s in (1, 2)}

    report = build_report(spec, entity="attnbench-tests")  # built, never saved
    assert isinstance(report, wr.Report) and report.title == spec["title"]
    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    panels = {type(p).__name__: p for g in grids for p in g.panels}
    assert set(panels) == {"BarPlot", "LinePlot", "ScatterPlot", "MediaBrowser", "WeavePanelSummaryTable"}
    bar = panels["BarPlot"]._to_model().config
    assert (bar.metrics, bar.group_by, bar.group_area) == (["test/acc"], "jobType", "stddev")
    line = panels["LinePlot"]._to_model().config
    assert (line.metrics, line.group_by, line.x_axis) == (["val/acc"], "jobType", "epoch")
    study_runs, table_run = grids[0].runsets[0], grids[-1].runsets[0]
    assert study_runs.groupby == ["JobType"]
    keys = {(f.key.name, f.op, str(f.value)) for f in wexpr.expr_to_filters(study_runs.filters).filters}
    assert keys == {("group", "=", "lengths"), ("jobType", "IN", "['attn', 'plain']")}
    keys = {(f.key.name, f.op, str(f.value)) for f in wexpr.expr_to_filters(table_run.filters).filters}
    assert keys == {("group", "=", "lengths"), ("jobType", "IN", "['report']")}
    links = report.blocks[-1].text
    assert "(https://wandb.example.org/attnbench-tests/attnbench/runs/attn16s2)" in links


def test_a_group_column_is_plotted_by_its_option_name() -> None:
    """``columns: data`` (a Hydra group): the scatter's x is the chosen option's name, which the loggers
    get as ``choices.data`` (the run's ``data`` key is the whole resolved group)."""
    records = [{"config": {"data": {"name": "bbc_news"}}, "choices": {"data": "bbc_news", "encoder": "bilstm"}}]
    assert scatter_key("data", records) == "choices.data"
    assert scatter_key("data.synthetic.length", records) == "data.synthetic.length"


def test_reports_of_ad_hoc_runs_filter_their_own_table_run() -> None:
    """Without a study or a W&B group, a report's table run gets a group named after its set of runs, so
    its filter does not match every report run of the project; two sets get two groups."""
    a = [{"_path": "/x/a/run.json", "run_dir": "/x/a", "config": {"logger": {"wandb": {"project": "p"}}}}]
    b = [{"_path": "/x/b/run.json", "run_dir": "/x/b", "config": {"logger": {"wandb": {"project": "p"}}}}]
    assert report_group(a, None).startswith("report-") and report_group(a, None) != report_group(b, None)
    assert report_group(a, None) == report_group(list(a), None)
    assert table_run_id("p", report_group(a, None)) != table_run_id("p", report_group(b, None))


@pytest.mark.skipif(not ONLINE_KEY, reason="publishing a W&B Report needs credentials (WANDB_API_KEY)")
def test_publish_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", str(ONLINE_KEY))
    study, sweep = grid_study(tmp_path)
    out = tmp_path / "out"
    summary = write_report([sweep], out, study=study, command="test", log_wandb=False, wandb_report=True)
    assert summary["wandb_report"].startswith("http") and "/reports/" in summary["wandb_report"]
    assert f"wandb_report: {summary['wandb_report']}" in (out / "MANIFEST").read_text()
    assert publish(read_spec(out / "wandb_report.json")).startswith("http")  # again, from the file
