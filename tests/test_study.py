"""Studies end to end: a tiny study (2 variants × 2 seeds, plus a variant that fails) runs as a real Hydra
multirun with the joblib launcher (2 jobs), and its tables, plots, report page and MANIFEST are checked
against numbers recomputed here from the runs' ``run.json`` files; then it is resumed; then the page is
opened in headless Chromium. Also: ad-hoc multiruns through ``attnbench-report``, study-file errors,
and the table statistics on hand-made records."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attnbench.reporting.statistics import Cell, paired_p_value
from attnbench.studies.runner import done_jobs
from attnbench.studies.study_file import StudyError, load_study

from .helpers import TINY_OVERRIDES, subprocess_env

pytestmark = pytest.mark.xdist_group("tiny_study")

COMMON = [o for o in TINY_OVERRIDES if not o.startswith("model.")]  # the TF-IDF model has no embedding
NEURAL = ["model.embedding_dim=16", "encoder.hidden_size=16"]
TINY_STUDY = {
    "description": "Two tiny BiLSTMs and TF-IDF on BBC News, for the tests.",
    "question": "Does the tiny study pipeline work?",
    "overrides": [
        *COMMON,
        "debug=limit",
        "callbacks=[default,attention_heatmaps]",
        "callbacks.attention_heatmaps.num_examples=2",
        "callbacks.rich_progress_bar=null",
        "tags=[tests]",
    ],
    "seeds": [1, 2],
    "variants": {
        "plain": {"label": "BiLSTM, last state", "overrides": [*NEURAL, "attention=none"]},
        "additive": {
            "label": "BiLSTM + additive",
            "overrides": [*NEURAL, "attention=additive", "attention.hidden_size=16"],
        },
        # composes, then fails when the Trainer is built: a run that breaks at run time
        "broken": {"label": "broken on purpose", "overrides": [*NEURAL, "trainer.precision=nonsense"]},
        "tfidf": {"label": "TF-IDF", "overrides": ["model=tfidf_logreg"]},
    },
    "table": {"metrics": ["test/acc", "test/f1_macro"], "baseline": "plain"},
}
STUDY_TIMEOUT = 600


def study_command(study_file: Path, base: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "attnbench.cli.study",
        str(study_file),
        "--launcher",
        "joblib",
        "--jobs",
        "2",
        "--sweep-dir",
        str(base / "sweep"),
        "--out",
        str(base / "out"),
        *extra,
    ]


def run_study(study_file: Path, base: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        study_command(study_file, base, *extra),
        cwd=base,
        env=subprocess_env(base),
        capture_output=True,
        text=True,
        timeout=STUDY_TIMEOUT,
    )


@pytest.fixture(scope="session")  # once per worker, however xdist interleaves modules
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import yaml

    base = tmp_path_factory.mktemp("tiny-study")
    study_file = base / "tiny.yaml"
    study_file.write_text(yaml.safe_dump(TINY_STUDY, sort_keys=False))
    proc = run_study(study_file, base)
    return {"base": base, "file": study_file, "proc": proc, "sweep": base / "sweep", "out": base / "out"}


def records_of(sweep: Path, variant: str) -> dict[int, dict[str, Any]]:
    out = {}
    for path in sorted((sweep / variant).glob("*/run.json")):
        record = json.loads(path.read_text())
        out[record["config"]["seed"]] = record
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_study_runs_every_job_and_reports_the_failed_variant(tiny_study: dict[str, Any]) -> None:
    proc = tiny_study["proc"]
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # a variant failed: exit 1
    assert "6/8 completed" in proc.stdout, proc.stdout[-2000:]
    sweep = tiny_study["sweep"]
    for variant in ("plain", "additive", "tfidf"):
        runs = records_of(sweep, variant)
        assert sorted(runs) == [1, 2]
        assert all(r["status"] == "completed" for r in runs.values())
        # the job directory is fixed by what it runs: <variant>/seed=<seed>
        assert sorted(p.name for p in (sweep / variant).iterdir()) == ["seed=1", "seed=2"]
    broken = records_of(sweep, "broken")
    assert sorted(broken) == [1, 2] and all(r["status"] == "failed" for r in broken.values())
    assert "nonsense" in broken[1]["error"]
    table = (tiny_study["out"] / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| broken on purpose"))
    assert "failed (2)" in row and "0 (2 failed)" in row


def test_table_numbers_are_recomputed_from_the_run_records(tiny_study: dict[str, Any]) -> None:
    out, sweep = tiny_study["out"], tiny_study["sweep"]
    for name in ("table.md", "table.csv", "table.tex", "index.html", "MANIFEST", "bar.png"):
        assert (out / name).is_file(), name
    rows = read_csv(out / "table.csv")
    plain = records_of(sweep, "plain")
    for variant in ("plain", "additive", "tfidf"):
        runs = records_of(sweep, variant)
        for metric in ("test/acc", "test/f1_macro"):
            values = [runs[s]["metrics"][metric] for s in (1, 2)]
            row = next(r for r in rows if r["row"] == variant and r["metric"] == metric)
            assert float(row["mean"]) == pytest.approx(statistics.mean(values), abs=1e-12)
            assert float(row["std"]) == pytest.approx(statistics.stdev(values), abs=1e-12)
            assert int(row["n"]) == 2 and int(row["failed"]) == 0
            if variant == "additive" and metric == "test/acc":
                base = [plain[s]["metrics"][metric] for s in (1, 2)]
                diffs = [a - b for a, b in zip(values, base, strict=True)]
                # the exact sign-flip test of 2 pairs: the share of the 4 sign patterns as extreme
                sums = [abs(s1 * diffs[0] + s2 * diffs[1]) for s1 in (1, -1) for s2 in (1, -1)]
                expected = sum(x >= abs(sum(diffs)) - 1e-9 for x in sums) / 4
                assert float(row["p_value_vs_baseline"]) == pytest.approx(expected)
            md_cell = f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
            assert md_cell in (out / "table.md").read_text()
    # the best mean of each metric column is marked, in every format
    for metric in ("test/acc", "test/f1_macro"):
        metric_rows = [r for r in rows if r["metric"] == metric and r["mean"]]
        best = max(float(r["mean"]) for r in metric_rows)
        assert {r["row"] for r in metric_rows if r["best"] == "True"} == {
            r["row"] for r in metric_rows if float(r["mean"]) == best
        }
    assert "**" in (out / "table.md").read_text()
    # every pairing: the pair with the baseline agrees with the table's test; all 6 pairs of 4 rows are there
    pairs = read_csv(out / "pairwise.csv")
    assert len(pairs) == 6
    pair = next(r for r in pairs if (r["row_a"], r["row_b"]) == ("BiLSTM, last state", "BiLSTM + additive"))
    row = next(r for r in rows if r["row"] == "additive" and r["metric"] == "test/acc")
    assert pair["p_value"] == row["p_value_vs_baseline"] and int(pair["n_pairs"]) == 2
    tex = (out / "table.tex").read_text()
    assert r"\begin{tabular}" in tex and r"\textbf{" in tex and "paired sign-flip" in tex and r"\toprule" in tex
    assert "exact two-sided paired sign-flip (permutation) test across seeds" in (out / "table.md").read_text()


def test_manifest_heatmaps_and_wandb(tiny_study: dict[str, Any]) -> None:
    out, sweep = tiny_study["out"], tiny_study["sweep"]
    manifest = dict(line.split(": ", 1) for line in (out / "MANIFEST").read_text().splitlines() if ": " in line)
    assert manifest["command"].startswith("attnbench-study ") and "--jobs 2" in manifest["command"]
    for key in ("git_sha", "torch", "lightning", "python", "machine", "cpu_count", "wall_time_s"):
        assert manifest.get(key), key
    assert manifest["runs_completed"] == "6" and manifest["runs_failed"] == "2"
    assert float(manifest["wall_time_s"]) > 0
    # the best attention run's heatmaps are copied and shown
    pngs = sorted((out / "heatmaps").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "/additive/" in manifest["heatmaps_from"]
    # W&B: every run in the study's group, variant as job_type, offline in its own directory
    for variant in ("plain", "additive"):
        for seed, record in records_of(sweep, variant).items():
            wb = record["config"]["logger"]["wandb"]
            assert (wb["group"], wb["job_type"], wb["name"]) == ("tiny", variant, f"{variant}/seed={seed}")
            assert "tests" in wb["tags"]
            assert list((Path(record["run_dir"]) / "wandb").glob("offline-run-*/run-*.wandb"))
    # ... and the aggregated table logged once, as a wandb.Table, in a report run of the group
    report_run = Path(manifest["wandb_report_run"])
    assert report_run.name.startswith("offline-run-"), manifest["wandb_report_run"]
    tables = list(report_run.rglob("comparison*.table.json"))
    assert len(tables) == 1
    logged = json.loads(tables[0].read_text())
    assert [row[0] for row in logged["data"]] == [
        "BiLSTM, last state",
        "BiLSTM + additive",
        "broken on purpose",
        "TF-IDF",
    ]


def test_two_joblib_jobs_ran_at_the_same_time(tiny_study: dict[str, Any]) -> None:
    sweep = tiny_study["sweep"]
    runs = [r for v in ("plain", "additive", "broken", "tfidf") for r in records_of(sweep, v).values()]
    assert all(r["config"]["torch_threads"] == max(1, (os.cpu_count() or 1) // 2) for r in runs)
    overlapping = [
        (a, b)
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
        if a["pid"] != b["pid"] and a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]
    ]
    assert overlapping, [(r["pid"], r["started_at"], r["finished_at"]) for r in runs]


def test_index_html_renders_in_headless_chromium(tiny_study: dict[str, Any], chromium: str) -> None:
    page = tiny_study["out"] / "index.html"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = proc.stdout
    assert "<table" in dom, proc.stderr[-2000:]
    assert len(re.findall(r'<tr class="run-row"', dom)) == 4
    images = re.findall(r"<img [^>]*>", dom)
    assert len(images) >= 2  # the bar chart and the heatmaps
    assert all('data-loaded="1"' in img for img in images), images
    assert "broken" not in " ".join(images)
    assert re.search(r'<p id="missing" hidden="">\s*</p>', dom), re.findall(r'<p id="missing".*?</p>', dom)
    # a page with a missing image says so, in the browser
    broken = page.with_name("broken.html")
    broken.write_text(page.read_text().replace('src="bar.png"', 'src="no-such.png"'))
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            broken.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    missing = re.search(r'<p id="missing"[^>]*>(.*?)</p>', dom)
    assert (
        missing and "hidden" not in missing.group(0).split(">")[0] and "missing image: no-such.png" in missing.group(1)
    )


def test_resume_skips_completed_runs_and_reruns_failed_or_missing(tiny_study: dict[str, Any]) -> None:
    sweep, base = tiny_study["sweep"], tiny_study["base"]
    # plain/seed=1 failed, additive/seed=2 never ran (interrupted study); the other runs are done
    failed = sweep / "plain" / "seed=1" / "run.json"
    record = json.loads(failed.read_text())
    record["status"] = "failed"
    failed.write_text(json.dumps(record))
    shutil.rmtree(sweep / "additive" / "seed=2")
    untouched = {
        p: p.stat().st_mtime_ns
        for p in [sweep / "plain" / "seed=2" / "run.json", sweep / "additive" / "seed=1" / "run.json"]
    }
    # the table's W&B run: tested above; the basic launcher: the reruns in one process, no worker start-ups
    proc = run_study(tiny_study["file"], base, "--no-wandb", "--launcher", "basic")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # "broken" still fails
    assert "6/8 completed (4 reused)" in proc.stdout, proc.stdout[-2000:]
    for path, mtime in untouched.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was run again"
    assert json.loads(failed.read_text())["status"] == "completed"
    assert (failed.parent / "run.1.json").is_file()  # the failed record is kept
    assert json.loads((sweep / "additive" / "seed=2" / "run.json").read_text())["status"] == "completed"
    assert list((tiny_study["out"] / ".previous").iterdir())  # the earlier results were kept
    history = [json.loads(line) for line in (sweep / "study_history.jsonl").read_text().splitlines()]
    assert [h["reused"] for h in history] == [0, 4]
    # what counts as done is decided by the config hash: another setting makes every run pending
    study = load_study(tiny_study["file"])
    done = done_jobs(study, sweep, [])
    assert done == {f"{v}/seed={s}" for v in ("plain", "additive", "tfidf") for s in (1, 2)}
    assert done_jobs(study, sweep, ["trainer.max_epochs=1"]) == set()


def test_no_run_reaggregates_and_its_manifest_keeps_the_calls_that_ran(tiny_study: dict[str, Any]) -> None:
    """--no-run trains nothing and adds no call to the history, but the MANIFEST still lists the calls."""
    sweep = tiny_study["sweep"]
    before = (sweep / "study_history.jsonl").read_text()
    proc = run_study(tiny_study["file"], tiny_study["base"], "--no-run", "--no-wandb")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # "broken" still failed
    assert (sweep / "study_history.jsonl").read_text() == before
    fields = dict(line.split(": ", 1) for line in (tiny_study["out"] / "MANIFEST").read_text().splitlines())
    assert fields["sweep_launcher"] == "none (--no-run)"
    calls = fields["sweep_calls"].split("; ")
    assert len(calls) == len(before.splitlines()) >= 1 and all(" s, ran " in c for c in calls), calls


def test_variants_runs_and_reports_a_subset(tiny_study: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """--variants keeps the named rows (file order), names the rest in the MANIFEST and the footnote, and
    refuses an unknown id or a subset without the baseline before anything runs."""
    from attnbench.cli.study import main

    base = tiny_study["base"]
    out = base / "out_subset"
    cmd = [*study_command(tiny_study["file"], base, "--no-run", "--no-wandb", "--variants", "additive,plain")]
    cmd[cmd.index("--out") + 1] = str(out)
    proc = subprocess.run(cmd, cwd=base, env=subprocess_env(base), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]  # "broken" is not in the subset
    rows = read_csv(out / "table.csv")
    assert list(dict.fromkeys(r["row"] for r in rows)) == ["plain", "additive"]
    fields = dict(line.split(": ", 1) for line in (out / "MANIFEST").read_text().splitlines())
    assert fields["variants_left_out"] == "broken, tfidf"
    assert "Not in this table: the study's variants broken, tfidf" in (out / "table.md").read_text()
    for spec, message in [("plain,nope", "nope is not a variant"), ("additive", "baseline 'plain'")]:
        assert main([str(tiny_study["file"]), "--variants", spec, "--no-run", "--sweep-dir", str(base / "sweep")]) == 2
        assert message in capsys.readouterr().err


def test_report_aggregates_an_ad_hoc_multirun(tmp_path: Path) -> None:
    sweep = tmp_path / "adhoc"
    cmd = [
        sys.executable,
        "-m",
        "attnbench.train",
        "-m",
        *TINY_OVERRIDES,
        "encoder.hidden_size=16",
        "debug=limit",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "pooling=last,mean",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=STUDY_TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnbench.cli.report",
            str(sweep),
            "--out",
            str(tmp_path / "out"),
            "--baseline",
            "BiLSTM (last-state pooling)",
        ],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    rows = read_csv(tmp_path / "out" / "table.csv")
    acc = {r["label"]: r for r in rows if r["metric"] == "test/acc"}
    assert set(acc) == {"BiLSTM (last-state pooling)", "BiLSTM (mean pooling)"}
    for label, pooling in (("BiLSTM (last-state pooling)", "last"), ("BiLSTM (mean pooling)", "mean")):
        values = [
            json.loads(p.read_text())["metrics"]["test/acc"]
            for p in sweep.glob("*/run.json")
            if json.loads(p.read_text())["config"]["pooling"]["mode"] == pooling
        ]
        assert int(acc[label]["n"]) == 2 == len(values)
        assert float(acc[label]["mean"]) == pytest.approx(statistics.mean(values), abs=1e-12)
    assert (tmp_path / "out" / "index.html").is_file() and (tmp_path / "out" / "MANIFEST").is_file()
    missing = subprocess.run(
        [sys.executable, "-m", "attnbench.cli.report", str(tmp_path / "nothing"), "--out", str(tmp_path / "o2")],
        capture_output=True,
        text=True,
        env=subprocess_env(tmp_path),
    )
    assert missing.returncode == 2 and "nothing" in missing.stderr


def test_demo_is_a_study_with_the_demo_columns(tmp_path: Path) -> None:
    """`make demo` runs experiments/demo.yaml through the study runner and report. On tiny settings: its
    table has the demo's columns (test acc, macro-F1, best val acc, train time, epochs, parameters) and
    earlier results move to .previous/<time>/."""
    out = tmp_path / "results" / "demo"
    out.mkdir(parents=True)
    (out / "table.md").write_text("earlier\n")
    tiny = [*TINY_OVERRIDES, "encoder.hidden_size=16", "debug=limit", "logger=csv"]
    proc = subprocess.run(
        # the overrides follow the study's name (argparse takes positionals before the options)
        [
            sys.executable,
            "-m",
            "attnbench.cli.study",
            "demo",
            *tiny,
            "--out",
            str(out),
            "--sweep-dir",
            str(tmp_path / "sweep"),
            "--no-wandb",
            "--launcher",
            "basic",  # both runs in one process: the demo's columns, not its launcher, are tested here
        ],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=STUDY_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    md = (out / "table.md").read_text()
    assert "| model | test acc | test macro-F1 | best val acc | train time (s) | epochs | parameters | n |" in md
    assert "BiLSTM (last-state pooling) (baseline)" in md and "BiLSTM + additive attention" in md
    rows = read_csv(out / "table.csv")
    for variant in ("plain", "additive"):
        (record,) = records_of(tmp_path / "sweep", variant).values()
        cells = {r["metric"]: r for r in rows if r["row"] == variant}
        assert float(cells["epochs"]["mean"]) == record["epochs"]
        assert float(cells["params"]["mean"]) == record["params"]
        assert float(cells["val/acc"]["mean"]) == pytest.approx(record["metrics"]["val/acc"])
    assert (out / "MANIFEST").read_text().startswith("command: attnbench-study demo ")
    (earlier,) = (out / ".previous").iterdir()
    assert (earlier / "table.md").read_text() == "earlier\n"


# ---- study files and statistics, no training ---------------------------------------------------------


def write_study(tmp_path: Path, **changes: Any) -> Path:
    import yaml

    spec = json.loads(json.dumps(TINY_STUDY))
    spec.update(changes)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sweep": []}, r"unknown key\(s\) \['sweep'\]"),
        ({"seeds": []}, "seeds must be a non-empty list"),
        ({"table": {"baseline": "nope"}}, r"table.baseline='nope' is not a variant"),
        ({"table": {"columns": "data.max_length"}}, "table.columns='data.max_length' is not a grid key"),
        ({"plots": ["pie"]}, r"plots \['pie'\] unknown"),
        ({"variants": {"a b": {"overrides": []}}}, "variant id 'a b'"),
        ({"published": {"values": {"nope": {}}}}, "published.values maps variant ids"),
        ({"published": {"rows": {"SST": 0.3}}}, "published.rows maps row labels"),
        ({"published": {"source": "a paper"}}, "give values .per variant id. or rows"),
    ],
)
def test_bad_study_files_name_the_key(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = write_study(tmp_path, **changes)
    with pytest.raises(StudyError, match=message) as err:
        load_study(path)
    assert str(path) in str(err.value)


def test_unknown_study_lists_the_available_ones(capsys: pytest.CaptureFixture[str]) -> None:
    from attnbench.cli.study import main

    assert main(["no_such_study"]) == 2
    err = capsys.readouterr().err
    assert "no_such_study" in err and "bilstm_vs_attention" in err


def test_committed_studies_load() -> None:
    for name in ("bilstm_vs_attention", "long_sequence_memory", "keras_conv1d"):
        study = load_study(name)
        assert study.baseline in study.variants and len(study.seeds) >= 3, name


def test_paired_p_value_and_cell_statistics() -> None:
    a, b = {1: 0.9, 2: 0.8, 3: 0.85}, {1: 0.7, 2: 0.72, 3: 0.6}
    assert paired_p_value(a, b) == 0.25  # the exact sign-flip test: 2 of 8 sign patterns
    assert paired_p_value({1: 0.5}, {1: 0.4}) is None  # one pair: no test
    assert paired_p_value({1: 0.5, 2: 0.6}, {1: 0.5, 2: 0.6}) == 1.0
    assert paired_p_value({1: 0.5, 2: 0.6, 3: 0.9}, {2: 0.5, 3: 0.8}) is not None  # pairs by seed
    cell = Cell(values={1: 0.5, 2: 0.7})
    assert cell.mean == pytest.approx(0.6) and cell.std == pytest.approx(math.sqrt(0.02))
    assert Cell().mean is None and Cell(values={1: 0.3}).std is None  # one seed: no std


def test_grid_table_length_plot_and_published_rows(tmp_path: Path) -> None:
    """A study with a grid column and published numbers, aggregated from run records written here
    (the shape train.run writes): cells, significance, the length plot, the published row."""
    from attnbench.reporting.report import write_report

    study_file = write_study(
        tmp_path,
        seeds=[1, 2, 3],
        grid={"data.synthetic.length": [8, 16]},
        variants={"plain": {"label": "plain"}, "attn": {"label": "attention"}},
        table={"columns": "data.synthetic.length", "metric": "test/acc", "baseline": "plain"},
        published={
            "source": "a paper",
            "metric": "accuracy",
            "values": {"attn": {8: 0.9}},
            "rows": {"attention on another dataset": {16: 0.75}},
        },
    )
    study = load_study(study_file)
    acc = {
        ("plain", 8): [0.50, 0.52, 0.48],
        ("plain", 16): [0.30, 0.31, 0.29],
        ("attn", 8): [0.90, 0.93, 0.91],
        ("attn", 16): [0.88, 0.90, 0.89],
    }
    sweep = tmp_path / "sweep"
    for (variant, length), values in acc.items():
        for seed, value in zip((1, 2, 3), values, strict=True):
            run_dir = sweep / variant / f"data.synthetic.length={length},seed={seed}"
            run_dir.mkdir(parents=True)
            config = {
                "seed": seed,
                "study": {"name": study.name, "variant": variant, "label": variant},
                "data": {"synthetic": {"length": length}},
                "attention": {"name": "none"},
            }
            (run_dir / "run.json").write_text(
                json.dumps(
                    {
                        "status": "completed",
                        "config": config,
                        "metrics": {"test/acc": value},
                        "timings": {"total_s": 1.0},
                        "git_sha": "abc",
                    }
                )
            )
    # one job of the study never ran: it counts as failed
    shutil.rmtree(sweep / "attn" / "data.synthetic.length=16,seed=3")
    summary = write_report([sweep], tmp_path / "out", study=study, command="test", log_wandb=False)
    md = (tmp_path / "out" / "table.md").read_text()
    assert "| model | length=8 | length=16 | n |" in md
    p8 = 0.25  # 3 seeds, all better: 2 of the 8 sign patterns
    assert "**0.913 ± 0.015**" in md
    assert "0.890 ± 0.014" in md and "(1 failed)" in md  # 2 seeds left at length 16
    assert "| *attention — published* | 0.9 | — |  |" in md  # as the study file writes it
    other = "| *attention on another dataset — published* | — | 0.75 |  |"  # published.rows, after the variants'
    assert md.index("*attention — published*") < md.index(other)
    tex = (tmp_path / "out" / "table.tex").read_text()
    assert r"\emph{attention on another dataset --- published} & --- & 0.75 &" in tex
    assert (tmp_path / "out" / "length.png").read_bytes()[:4] == b"\x89PNG"
    assert any("no run.json" in f for f in summary["failed"])
    rows = read_csv(tmp_path / "out" / "table.csv")
    attn8 = next(r for r in rows if r["row"] == "attn" and r["column"] == "8")
    assert float(attn8["p_value_vs_baseline"]) == pytest.approx(p8) and attn8["published"] == "0.9"


def test_nan_metrics_are_undefined_cells_not_nan(tmp_path: Path) -> None:
    """Kendall τ of uniform attention is NaN in every run: the cell says so instead of 'nan ± nan', and
    a cell with some NaN seeds averages the others."""
    from attnbench.reporting.statistics import build_table
    from attnbench.reporting.tables import to_markdown

    tau = "analysis/kendall/tau_attn_grad_mean"
    values = {("uniform", 1): math.nan, ("uniform", 2): math.nan, ("additive", 1): 0.2, ("additive", 2): math.nan}
    records = [
        {
            "status": "completed",
            "config": {"seed": seed, "study": {"label": name}},
            "metrics": {"test/acc": 0.9, tau: value},
            "_path": str(tmp_path / name / str(seed) / "run.json"),
        }
        for (name, seed), value in values.items()
    ]
    table = build_table(records, metrics=["test/acc", tau])
    cells = {rid: table.cells[(rid, tau)] for rid, _ in table.rows}
    undefined = next(c for c in cells.values() if c.n == 0)
    assert undefined.undefined == 2 and not undefined.failed
    assert sorted(c.mean for c in cells.values() if c.n) == [0.2]
    md = to_markdown(table)
    assert "nan" not in md and md.count("| undefined |") == 1
    assert "| uniform | **0.900 ± 0.000** | undefined | — | — | 2 |" in md  # both runs completed: n counts them
    assert "undefined: the runs completed but the metric has no value" in table.footnote()


def test_config_hash_ignores_what_does_not_change_a_run() -> None:
    """The hash of a composed config works outside a Hydra run (the W&B name and the study's job name
    interpolate Hydra's runtime) and does not change with loggers, paths, threads or the study's labels."""
    from omegaconf import open_dict

    from attnbench.config import config_hash

    from .helpers import compose_config

    base = compose_config(["logger=wandb", "encoder=conv1d"])
    with open_dict(base):
        base.study = {"name": "s", "variant": "v", "label": "V", "run_name": "v/data=${hydra:runtime.choices.data}"}
    digest = config_hash(base)
    other = base.copy()
    with open_dict(other):
        other.study.label, other.torch_threads, other.paths.root_dir = "renamed", 7, "/elsewhere"
        other.flush_denormal = False
        other.logger = {}
    assert config_hash(other) == digest
    other.encoder.filters = 3
    assert config_hash(other) != digest


def test_git_sha_is_dirty_for_code_changes_not_for_results(tmp_path: Path) -> None:
    from attnbench.runtime.record import git_sha

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.md").write_text("old\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "init")
    sha = git_sha(tmp_path)
    assert sha and not sha.endswith("+dirty")
    (tmp_path / "results" / "table.md").write_text("new\n")  # a report rewriting its table
    assert git_sha(tmp_path / "results") == sha
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_sha(tmp_path) == sha + "+dirty"
