"""End to end: a tiny study whose runs are analysed after training, its report with the analysis
columns, and ``attnbench-analyze`` adding measurements to a finished run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from attnbench.analysis.checkpoint import AnalysisError, analyse_fitted, analyze
from attnbench.models.classifier import TextClassifier
from attnbench.runtime.run_record import RunRecord

from .helpers import TINY_NEEDLE as NEEDLE
from .helpers import subprocess_env

pytestmark = pytest.mark.xdist_group("analysis_study")

ANALYSES = [
    "analysis=[kendall,permutation,erasure,eraser,rationale]", "analysis.max_examples=6", "analysis.ig_steps=4",
    "analysis.permutation.n_perm=5",
]  # fmt: skip
STUDY = {
    "description": "A tiny needle study with analyses, for the tests.",
    "question": "Do the analyses run after every run and reach the report?",
    "overrides": [*NEEDLE, *ANALYSES],
    "seeds": [1],
    "variants": {
        "additive": {"label": "BiLSTM + additive", "overrides": ["attention=additive", "attention.hidden_size=8"]},
        "uniform": {"label": "BiLSTM + uniform", "overrides": ["attention=additive", "attention.frozen=uniform"]},
    },
    "table": {"metrics": ["test/acc", "analysis/kendall/tau_attn_grad_mean", "analysis/rationale/mass_attention"]},
    "plots": ["bar", "permutation"],
}
TIMEOUT = 600


def cli(args: list[str], base: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=base, env=subprocess_env(base), capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="session")  # once per worker, however xdist interleaves modules
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("analysis-study")
    (base / "tiny.yaml").write_text(yaml.safe_dump(STUDY, sort_keys=False))
    proc = cli([sys.executable, "-m", "attnbench.cli.study", str(base / "tiny.yaml"), "--sweep-dir",
                str(base / "sweep"), "--out", str(base / "out"), "--launcher", "basic"], base)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = {p.parent.parent.name: p.parent for p in (base / "sweep").glob("*/*/run.json")}
    return {"base": base, "runs": runs, "out": base / "out"}


def test_every_run_is_analysed_after_training(study: dict[str, Any]) -> None:
    for variant, run_dir in study["runs"].items():
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "completed", variant
        metrics = record["metrics"]
        assert metrics["analysis/kendall/examples"] == 6
        assert 0 <= metrics["analysis/rationale/mass_attention"] <= 1
        assert record["analysis"]["measurements"] == ["kendall", "permutation", "erasure", "eraser", "rationale"]
        assert "analysis_s" in record["timings"]
        files = sorted(p.name for p in (run_dir / "analysis").iterdir())
        assert files == [
            "eraser.csv", "erasure.csv", "kendall.csv", "permutation.csv", "permutation.png", "rationale.csv",
            "summary.json",
        ]  # fmt: skip
    uniform = json.loads((study["runs"]["uniform"] / "run.json").read_text())["metrics"]
    assert uniform["analysis/permutation/median_tvd"] == pytest.approx(0.0, abs=1e-6)  # nothing to permute


def test_the_report_shows_the_analyses_as_columns(study: dict[str, Any]) -> None:
    table = (study["out"] / "table.md").read_text()
    assert "τ(attn, grad)" in table and "gold mass (attention)" in table  # the label registry's headers
    assert "BiLSTM + uniform" in table


def test_the_report_draws_the_permutation_scatter_of_every_row(study: dict[str, Any]) -> None:
    """One panel per variant, the examples of permutation.csv; a row without analysed runs is left out."""
    from attnbench.reporting.analysis_plots import permutation_points
    from attnbench.reporting.statistics import build_table
    from attnbench.studies.study_file import load_study

    files = [d / "run.json" for d in study["runs"].values()]
    records = [json.loads(f.read_text()) | {"_path": str(f)} for f in files]
    table = build_table(records, load_study(study["base"] / "tiny.yaml"))
    points = permutation_points(table, records)
    assert sorted(points) == ["additive", "uniform"]
    assert all(len(xs) == len(ys) == 6 for xs, ys in points.values())
    assert max(points["uniform"][1]) == pytest.approx(0.0, abs=1e-6)  # uniform weights: shuffling changes nothing
    assert (study["out"] / "permutation.png").read_bytes()[:4] == b"\x89PNG"
    assert "permutation.png" in (study["out"] / "index.html").read_text()
    (study["runs"]["uniform"] / "analysis" / "permutation.csv").rename(study["base"] / "moved.csv")
    try:
        assert sorted(permutation_points(table, records)) == ["additive"]
    finally:
        (study["base"] / "moved.csv").rename(study["runs"]["uniform"] / "analysis" / "permutation.csv")


def test_analyze_adds_measurements_to_a_finished_run(study: dict[str, Any]) -> None:
    run_dir = study["runs"]["additive"]
    ckpt = json.loads((run_dir / "run.json").read_text())["checkpoint"]
    proc = cli([sys.executable, "-m", "attnbench.cli.analyze", f"ckpt_path='{ckpt}'", "analysis=[adversarial]",
                "analysis.adversarial.steps=5", "analysis.max_examples=4", "logger=csv"], study["base"])  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["metrics"]["analysis/adversarial/examples"] == 4
    assert record["metrics"]["analysis/kendall/examples"] == 6  # the earlier analyses stay
    assert (run_dir / "analysis" / "adversarial.csv").is_file()


def test_analyze_without_analyses_says_how_to_choose_them(make_cfg) -> None:
    with pytest.raises(AnalysisError, match=r"analysis=\[kendall"):
        analyze(make_cfg("ckpt_path=x.ckpt", "logger=none", config_name="analyze"))


def test_a_model_without_attention_is_not_analysed_after_its_run(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("attention=none", "analysis=[kendall]", "logger=none")
    model = TextClassifier(20, 2, {"name": "bilstm", "hidden_size": 4}, {"name": "none"}, {"mode": "last"})
    record = RunRecord(cfg, tmp_path, "digest")
    assert analyse_fitted(cfg, model, None, record) == {}
    assert "attention=none" in record.fields["analysis"]["skipped"]
