"""The metric label registry and what uses it: labels, directions and formats of the keys the runs write,
a study's renamed column, the report naming the keys without a label, the paper-ready table.tex, and
re-aggregating a results directory from its table.csv."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from attnbench.reporting import labels
from attnbench.reporting.reaggregate import reaggregate
from attnbench.reporting.report import write_report
from attnbench.studies.study_file import load_study

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_labels_directions_and_formats_of_the_keys_runs_write() -> None:
    assert labels.label("test/acc") == "test acc" and labels.label("val/f1_macro") == "best val macro-F1"
    assert labels.label("test/bleu@len=5") == "test BLEU (len 5)" and labels.direction("test/bleu@len=5") == "higher"
    assert labels.label("analysis/kendall/tau_attn_grad_mean") == "τ(attn, grad)"
    assert labels.tex_label("analysis/kendall/tau_attn_grad_mean") == r"$\tau$(attn, grad)"
    directions = {
        "test/loss": "lower",
        "analysis/eraser/sufficiency_attention": "lower",
        "analysis/eraser/comprehensiveness_attention": "higher",
        "analysis/eraser/comprehensiveness_random": "none",
        "analysis/erasure/flip_random": "none",
        "analysis/adversarial/emax_jsd_mean": "lower",
        "analysis/kendall/tau_grad_loo_mean": "none",
        "timings/fit_s": "lower",
        "memory/peak_rss_mb": "lower",
        "params": "none",
    }
    assert {k: labels.direction(k) for k in directions} == directions
    assert labels.fmt("params", 1198085) == "1,198,085" and labels.fmt("timings/fit_s", 71.96) == "72.0"
    assert labels.fmt("test/acc", 0.93124) == "0.931" and labels.fmt("epochs", 7.5) == "7.5"
    assert labels.fmt("test/acc", float("nan")) == "undefined"
    assert labels.describe("analysis/eraser/sufficiency_attention").startswith("ERASER: probability drop keeping")
    assert labels.label("test/acc@len=5", {"test/acc": "exact match"}) == "exact match (len 5)"
    assert labels.label("custom/thing") == "custom/thing" and labels.direction("custom/thing") == "none"
    assert labels.describe("custom/thing") == ""


def test_every_key_the_runs_write_has_a_label() -> None:
    """Keys built the way the tasks, the run record and the analyses build them."""
    from attnbench.analysis.kendall import pair_name
    from attnbench.config.analysis import RANKINGS, KendallConfig
    from attnbench.tasks.seq2seq_metrics import METRICS

    keys = [f"{split}/{m}" for split in ("test", "val") for m in ("acc", "f1_macro", "loss", "tf_token_acc", *METRICS)]
    keys += [f"test/{m}@len=3-4" for m in METRICS]
    timings = ["fit_s", "test_s", "total_s", "data_s", "analysis_s", "train_s", "train_examples_per_s"]
    keys += [f"timings/{t}" for t in [*timings, "train_tokens_per_s", "eval_examples_per_s"]]
    keys += ["memory/peak_rss_mb", "memory/cuda_peak_mb", "params", "epochs", "analysis/seconds"]
    for a, b in KendallConfig().pairs:
        keys += [f"analysis/kendall/tau_{pair_name(a, b)}_{s}" for s in ("mean", "std", "sig", "mean_class1")]
    for name in RANKINGS:
        keys += [f"analysis/eraser/{k}_{name}" for k in ("comprehensiveness", "sufficiency")]
        keys += [f"analysis/rationale/{k}" for k in (f"mass_{name}", f"top1_{name}", f"rank_{name}_mean")]
    for name in ("attention", "gradient", "random"):
        keys += [f"analysis/erasure/frac_to_flip_{name}_median", f"analysis/erasure/never_flips_{name}"]
    keys += ["analysis/erasure/jsd_top_mean", "analysis/permutation/frac_below", "analysis/adversarial/frac_above"]
    keys += ["analysis/seed_agreement/jsd_attention_mean", "analysis/kendall/examples"]
    assert [k for k in keys if not labels.is_known(k)] == []


def test_every_key_of_the_committed_tables_has_a_label() -> None:
    keys = set()
    for path in RESULTS.glob("*/table.csv"):
        with path.open() as f:
            keys |= {r["metric"] for r in csv.DictReader(f) if "metric" in r}
    assert keys and sorted(k for k in keys if not labels.is_known(k)) == []


def study_with_runs(tmp_path: Path, metrics: list[str], table_extra: dict | None = None) -> tuple[Path, Path]:
    """A 2-variant, 2-seed study file and its runs' run.json (metric values from the seed and variant)."""
    spec = {
        "seeds": [1, 2],
        "variants": {"plain": {"label": "plain"}, "attn": {"label": "attention"}},
        "table": {"metrics": metrics, "baseline": "plain", **(table_extra or {})},
        "plots": ["bar"],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    sweep = tmp_path / "sweep"
    for i, variant in enumerate(("plain", "attn")):
        for seed in (1, 2):
            run_dir = sweep / variant / f"seed={seed}"
            run_dir.mkdir(parents=True)
            values = {m: 0.5 + i / 10 + seed / 100 for m in metrics}
            if variant == "attn" and seed == 2:
                values[metrics[-1]] = float("nan")  # an undefined seed (json writes NaN)
            config = {"seed": seed, "study": {"name": "s", "variant": variant, "label": variant}}
            body = {"status": "completed", "config": config, "metrics": values, "params": 1000 * (i + 1)}
            (run_dir / "run.json").write_text(json.dumps(body))
    return path, sweep


def test_a_study_renames_a_column_and_the_report_names_unlabelled_keys(tmp_path: Path) -> None:
    path, sweep = study_with_runs(tmp_path, ["test/acc", "custom/thing"], {"labels": {"test/acc": "exact match"}})
    summary = write_report([sweep], tmp_path / "out", study=load_study(path), command="t", log_wandb=False)
    assert summary["markdown"].startswith("| model | exact match | custom/thing | train time (s) | parameters | n |")
    assert summary["unlabelled"] == ["custom/thing"]
    assert "unlabelled_keys: custom/thing" in (tmp_path / "out" / "MANIFEST").read_text()
    rows = list(csv.DictReader((tmp_path / "out" / "table.csv").open()))
    assert {r["column_label"] for r in rows} == {"exact match", "custom/thing", "train time (s)", "parameters"}


def test_table_tex_is_a_booktabs_float_and_compiles(tmp_path: Path) -> None:
    tau = "analysis/kendall/tau_attn_grad_mean"
    path, sweep = study_with_runs(tmp_path, ["test/acc", tau])
    write_report([sweep], tmp_path / "out", study=load_study(path), command="t", log_wandb=False)
    tex = (tmp_path / "out" / "table.tex").read_text()
    assert r"\begin{table}" in tex and r"\toprule" in tex and r"\bottomrule" in tex and r"\caption{s}" in tex
    assert r"& $\tau$(attn, grad) &" in tex and r"0.515 $\pm$ 0.007" in tex and "sign-flip" in tex
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: the LaTeX was checked as text only")
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\input{out/table.tex}\\end{document}\n"
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_results_are_reaggregated_from_their_table_csv(tmp_path: Path) -> None:
    tau = "analysis/kendall/tau_attn_grad_mean"
    path, sweep = study_with_runs(tmp_path, ["test/acc", tau])
    study, out = load_study(path), tmp_path / "out"
    write_report([sweep], out, study=study, command="attnbench-study s", log_wandb=False)
    before = {n: (out / n).read_text() for n in ("table.md", "table.csv", "table.tex", "pairwise.csv")}
    shutil.rmtree(sweep)  # the run records are gone: only table.csv remains
    result = reaggregate(out, study, "attnbench-report --from-results out")
    for name, text in before.items():
        assert (out / name).read_text() == text, name  # the same numbers, marks and tests from values_by_seed
    assert result["table"].cells[("attn", tau)].undefined == 1  # the NaN seed survived as null
    manifest = (out / "MANIFEST").read_text()
    assert manifest.startswith("command: attnbench-study s\n")
    assert (
        "reaggregated_command: attnbench-report --from-results out" in manifest and "reaggregated_git_sha: " in manifest
    )
    assert '<img src="bar.png"' in (out / "index.html").read_text()  # the figures are kept
    assert result["backup"] is not None and (result["backup"] / "MANIFEST").is_file()
