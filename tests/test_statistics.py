"""Table statistics on run records written here (the shape ``train.run`` writes): the direction of each
column, the exact paired test and Holm's correction, unreadable and duplicate runs, partly undefined
cells, baselines and arguments that name nothing, one-seed stds, published digits. No training."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from attnbench.reporting.report import write_report
from attnbench.reporting.statistics import build_table, paired_p_value
from attnbench.reporting.tables import to_csv, to_markdown, to_pairwise_csv
from attnbench.studies.study_file import StudyError, load_study

TAU = "analysis/kendall/tau_attn_grad_mean"


def record(label: str, seed: int, metrics: dict[str, float], path: Path, **config: Any) -> dict[str, Any]:
    """An in-memory run record of an ad-hoc run labelled ``label``."""
    return {
        "status": "completed",
        "config": {"seed": seed, "study": {"label": label}, **config},
        "metrics": metrics,
        "_path": str(path / label / str(seed) / "run.json"),
    }


def write_study(tmp_path: Path, **spec: Any) -> Path:
    base = {"seeds": [1, 2, 3], "variants": {"plain": {"label": "plain"}, "attn": {"label": "attention"}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**base, **spec}, sort_keys=False))
    return path


def write_runs(sweep: Path, study: str, values: dict[tuple[str, int], dict[str, float]]) -> None:
    """run.json files of the study's jobs (no grid): ``values[(variant, seed)]`` are the metrics."""
    for (variant, seed), metrics in values.items():
        run_dir = sweep / variant / f"seed={seed}"
        run_dir.mkdir(parents=True)
        config = {"seed": seed, "study": {"name": study, "variant": variant, "label": variant}}
        body = {"status": "completed", "config": config, "metrics": metrics, "git_sha": "abc"}
        (run_dir / "run.json").write_text(json.dumps(body))


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_each_column_is_bolded_by_its_direction_and_controls_never(tmp_path: Path) -> None:
    loss, suff, rand = "test/loss", "analysis/eraser/sufficiency_attention", "analysis/erasure/flip_random"
    runs = {"a": (0.2, 0.1, 0.3), "b": (0.9, 0.5, 0.6)}
    records = [
        record(name, seed, {loss: v[0] + seed / 100, suff: v[1], rand: v[2]}, tmp_path)
        for name, v in runs.items()
        for seed in (1, 2)
    ]
    table = build_table(records, metrics=[loss, suff, rand])
    best = {col: [rid for rid, _ in table.rows if table.cells[(rid, col)].best] for col, _ in table.columns}
    assert best[loss] == ["a"] and best[suff] == ["a"]  # lower is better: the lowest loss and sufficiency
    assert best[rand] == []  # a control: no better side
    assert "No bold in controls" in table.footnote() and "flips (random erased, control)" in table.footnote()


def test_constant_differences_get_the_exact_test_not_p_zero() -> None:
    # one test example per seed (0.002 of 500), in float32: the t-test gave p = 0.0
    a = {1: 0.9980000257492065, 2: 0.9959999918937683, 3: 0.9980000257492065}
    b = {1: 1.0, 2: 0.9980000257492065, 3: 1.0}
    assert paired_p_value(a, b) == 0.25  # 2 of the 2^3 sign patterns are as extreme
    assert paired_p_value({1: 1, 2: -2, 3: 3}, {1: 0, 2: 0, 3: 0}) == 0.75  # |±1±2±3| ≥ 2 in 6 of 8
    assert paired_p_value({1: 0.5, 2: 0.6}, {1: 0.5, 2: 0.6}) == 1.0
    assert paired_p_value({1: 0.5}, {1: 0.4}) is None  # one pair: not testable
    seven = {s: 1.0 + s / 10 for s in range(7)}
    assert paired_p_value(seven, dict.fromkeys(range(7), 0.0)) == pytest.approx(2 / 2**7)


def test_sampled_sign_flips_count_the_observed_pattern_and_never_give_p_zero() -> None:
    from attnbench.reporting.significance import EXACT_MAX, SAMPLES, sign_flip_p_value

    # 20 equal differences: only the 2 all-same-sign patterns of 2^20 are as extreme; a sample of
    # 100,000 almost surely misses both, so p is the observed pattern's own count
    n = EXACT_MAX + 4
    hits = 2 * SAMPLES / 2**n  # the expected count of extreme patterns in the sample: 0.19
    p = sign_flip_p_value([0.1] * n)
    assert p is not None and 1 / (SAMPLES + 1) <= p <= (1 + 3 * hits + 1) / (SAMPLES + 1)


def test_holm_column_in_pairwise_csv_and_table_csv(tmp_path: Path) -> None:
    from attnbench.reporting.significance import holm

    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    # 7 seeds: rows b and c differ from a in every seed (p = 2/128 each), d is a tie (p = 1)
    acc = {"a": 0.5, "b": 0.8, "c": 0.2, "d": 0.5}
    records = [record(r, s, {"test/acc": v + s / 1000}, tmp_path) for r, v in acc.items() for s in range(7)]
    table = build_table(records, metrics=["test/acc"], baseline="a")
    pairs = read_csv(to_pairwise_csv(table))
    assert len(pairs) == 6 and {p["test"] for p in pairs} == {"exact paired sign-flip"}
    by_pair = {(p["row_a"], p["row_b"]): p for p in pairs}
    assert float(by_pair[("a", "b")]["p_value"]) == pytest.approx(2 / 128)
    assert float(by_pair[("a", "b")]["p_holm"]) == pytest.approx(6 * 2 / 128)  # the smallest of 6 tests: × 6
    assert float(by_pair[("a", "d")]["p_holm"]) == 1.0
    assert {p["p_ttest"] for p in pairs} == {""}  # constant differences: no t-test (it gave p = 0)
    cells = {r["row"]: r for r in read_csv(to_csv(table)) if r["metric"] == "test/acc"}
    assert float(cells["b"]["p_holm_vs_baseline"]) == pytest.approx(3 * 2 / 128)  # 3 rows tested against a
    assert "0.803 ± 0.002†" in to_markdown(table)  # p = 0.016 < 0.05, uncorrected in the cell


def test_an_unreadable_run_json_is_a_failed_job_of_the_study(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path, table={"metric": "test/acc", "baseline": "plain"}))
    sweep = tmp_path / "sweep"
    write_runs(sweep, study.name, {(v, s): {"test/acc": 0.5 + s / 10} for v in ("plain", "attn") for s in (1, 2, 3)})
    broken = sweep / "attn" / "seed=2" / "run.json"
    broken.write_text('{"status": "compl')  # torn by a full disk
    summary = write_report([sweep], tmp_path / "out", study=study, command="test", log_wandb=False)
    cell = summary["table"].cells[("attn", "test/acc")]
    assert cell.n == 2 and cell.failed == [str(broken)]
    assert str(broken) in summary["failed"]  # the exit status says a run failed
    assert "| attention | 0.700 ± 0.141 (1 failed) |" in summary["markdown"]


def test_two_runs_in_one_cell_and_seed_are_an_error_naming_both(tmp_path: Path) -> None:
    first = record("a", 1, {"test/acc": 0.5}, tmp_path / "one")
    second = record("a", 1, {"test/acc": 0.7}, tmp_path / "two")
    with pytest.raises(ValueError, match="seed 1") as err:
        build_table([first, second], metrics=["test/acc"])
    assert str(Path(first["_path"]).parent) in str(err.value) and str(Path(second["_path"]).parent) in str(err.value)


@pytest.mark.parametrize(
    "grid",
    [{"data.synthetic.length": [10, 20]}, {"data.synthetic.length": [10, 20], "seed_offset": [0, 1]}],
)
def test_grids_that_would_collapse_into_one_cell_are_refused(tmp_path: Path, grid: dict[str, Any]) -> None:
    table = {"metric": "test/acc"} if len(grid) == 1 else {"metric": "test/acc", "columns": "data.synthetic.length"}
    path = write_study(tmp_path, grid=grid, table=table)
    with pytest.raises(StudyError, match=r"needs table\.columns naming its one key") as err:
        load_study(path)
    assert str(path) in str(err.value)


def test_a_partly_undefined_cell_says_so_counts_its_n_and_is_not_best(tmp_path: Path) -> None:
    values = {"a": [0.1, math.nan, math.nan], "b": [0.05, 0.04, 0.06]}
    records = [
        record(r, s, {"test/acc": 0.9, TAU: v}, tmp_path) for r, vs in values.items() for s, v in enumerate(vs, 1)
    ]
    table = build_table(records, metrics=["test/acc", TAU])
    assert table.cells[("a", TAU)].undefined == 2 and not table.cells[("a", TAU)].best
    assert table.cells[("b", TAU)].best  # the mean over three seeds, not the one left of a
    md = to_markdown(table)
    assert "| a | **0.900 ± 0.000** | 0.100 ± — (n=1, 2 undefined) | — | — | 3 |" in md
    by_seed = {r["row"]: json.loads(r["values_by_seed"]) for r in read_csv(to_csv(table)) if r["metric"] == TAU}
    assert by_seed["a"] == {"1": 0.1, "2": None, "3": None}  # the NaN seeds survive in table.csv


def test_a_baseline_naming_no_row_is_an_error(tmp_path: Path) -> None:
    records = [record("a", s, {"test/acc": 0.5}, tmp_path) for s in (1, 2)]
    with pytest.raises(ValueError, match=r"--baseline='nope' names no row; rows: \['a'\]"):
        build_table(records, metrics=["test/acc"], baseline="nope")


@pytest.mark.parametrize("flag", [["--metric", "test/loss"], ["--baseline", "plain"]])
def test_metric_or_baseline_with_study_is_refused(
    tmp_path: Path, flag: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from attnbench.cli.report import main

    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--study", "demo", *flag])
    assert exit_.value.code == 2 and "do not apply with --study demo" in capsys.readouterr().err


def test_one_seed_has_no_std_and_published_numbers_keep_their_digits(tmp_path: Path) -> None:
    published = {"source": "Luong et al.", "metric": "BLEU", "values": {"attn": {"test/bleu": 0.190}}}
    path = write_study(tmp_path, seeds=[1], table={"metrics": ["test/bleu"]}, published=published)
    path.write_text(path.read_text().replace("0.19", "0.190"))
    study = load_study(path)
    sweep = tmp_path / "sweep"
    write_runs(sweep, study.name, {("plain", 1): {"test/bleu": 0.5}, ("attn", 1): {"test/bleu": 0.6}})
    summary = write_report([sweep], tmp_path / "out", study=study, command="test", log_wandb=False)
    assert "| plain | 0.500 ± — |" in summary["markdown"]
    assert "| *attention — published* | 0.190 |" in summary["markdown"]
    rows = read_csv((tmp_path / "out" / "table.csv").read_text())
    assert {r["std"] for r in rows} == {""} and next(r for r in rows if r["row"] == "attn")["published"] == "0.190"


def test_a_cell_without_two_seeds_paired_with_the_baseline_says_not_testable(tmp_path: Path) -> None:
    records = [record("base", s, {"test/acc": 0.5 + s / 100}, tmp_path) for s in (1, 2)]
    records += [record("other", s, {"test/acc": 0.7 + s / 100}, tmp_path) for s in (2, 3)]  # one seed in common
    table = build_table(records, metrics=["test/acc"], baseline="base")
    assert table.cells[("other", "test/acc")].p_value is None
    assert "| other | **0.725 ± 0.007 (n.t.)** |" in to_markdown(table)
    assert "n.t.: not testable (fewer than 2 seeds paired with the baseline)" in table.footnote()
