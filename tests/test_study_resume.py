"""A study survives being killed at any moment: ``attnbench-study`` (joblib, 2 jobs) is SIGKILLed, its
whole process group, while a run is done and another mid-epoch; the same command again gives
the tables an uninterrupted study gives. A report that dies while writing leaves the earlier results whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import attnbench.reporting.report as report
from attnbench.runtime.record import atomic_path, write_text_atomic
from attnbench.studies.runner import done_jobs, job_status
from attnbench.studies.study_file import load_study

from .helpers import TINY_OVERRIDES, read_record, subprocess_env

REPO = Path(__file__).resolve().parents[1]
NEURAL = ["encoder=bilstm", "encoder.hidden_size=16", "attention=none"]
STUDY = {
    "description": "Three tiny BiLSTM poolings, killed and resumed.",
    "question": "Does a killed study resume to the same table?",
    "overrides": [
        *TINY_OVERRIDES,
        "debug=limit",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "+callbacks.kill._target_=tests.interrupt.KillMidStudy",
    ],
    "seeds": [1],
    "variants": {
        "last": {"label": "BiLSTM, last state", "overrides": [*NEURAL, "pooling=last"]},
        "mean": {"label": "BiLSTM, mean", "overrides": [*NEURAL, "pooling=mean"]},
        "max": {"label": "BiLSTM, max", "overrides": [*NEURAL, "pooling=max"]},
    },
    "table": {"metrics": ["test/acc"], "baseline": "last"},
}


def study(study_file: Path, base: Path, marker: Path | None, launcher: str = "joblib") -> subprocess.CompletedProcess:
    """``attnbench-study`` in its own process group (the kill reaches only it)."""
    script = Path(sys.executable).parent / "attnbench-study"
    cli = [str(script)] if script.is_file() else [sys.executable, "-m", "attnbench.cli.study"]
    args = ["--launcher", launcher, "--jobs", "2", "--sweep-dir", str(base / "sweep"), "--out", str(base / "out")]
    env = {
        **subprocess_env(base),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        **({"ATTNBENCH_TEST_KILL_MARKER": str(marker)} if marker else {}),
    }
    return subprocess.run(
        [*cli, str(study_file), *args, "--no-wandb"],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_tables_of_an_uninterrupted_one(tmp_path: Path) -> None:
    study_file = tmp_path / "tiny.yaml"
    study_file.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    spec = load_study(study_file)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    killed.mkdir()
    reference.mkdir()
    marker = tmp_path / "killed-run"

    # call 1: killed (the whole process group) by the first job at epoch 1, batch 1 once a run completed
    first = study(study_file, killed, marker)
    assert first.returncode == -signal.SIGKILL, first.stdout[-2000:] + first.stderr[-3000:]
    victim = Path(marker.read_text())
    sweep = killed / "sweep"
    assert not (victim / "run.json").exists() and (victim / "checkpoints" / "last.ckpt").is_file()
    completed = {j.dir_name for j in spec.expected_jobs() if job_status(sweep, j) == "completed"}
    assert completed and str(victim.relative_to(sweep)) not in completed
    assert done_jobs(spec, sweep, []) == completed  # only whole, completed run.json files count
    assert not (killed / "out").exists()  # killed before any report

    # call 2: the same command finishes the study; the killed run resumed from its last.ckpt
    second = study(study_file, killed, marker)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    attempts = read_record(victim)["attempts"]
    assert [a["status"] for a in attempts] == ["killed", "completed"]
    assert attempts[1]["resumed_from"] == str(victim / "checkpoints" / "last.ckpt")
    calls = next(line for line in (killed / "out" / "MANIFEST").read_text().splitlines() if "sweep_calls" in line)
    assert calls.count(";") == 1 and "interrupted (killed before it finished)" in calls.split(";")[0], calls
    assert f"ran {3 - len(completed)} of 3" in calls.split(";")[1], calls

    # an uninterrupted study of the same file gives the same committed-style tables (all but the
    # rows of wall-clock timings, which no two runs share); its jobs one after another in one process
    assert study(study_file, reference, None, launcher="basic").returncode == 0
    for name in ("table.csv", "pairwise.csv"):
        tables = [(base / "out" / name).read_text().splitlines() for base in (killed, reference)]
        kept = [[line for line in t if ",timings/" not in line] for t in tables]
        assert kept[0] == kept[1] and len(kept[0]) > 1, name

    # a report that dies mid-way (here: drawing the page, after the tables and plots were written)
    # leaves every earlier result file as it was, and no partial file
    out = killed / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def page_fails(*args: object) -> str:
        raise RuntimeError("killed while writing the page")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "render_page", page_fails)
        with pytest.raises(RuntimeError, match="killed while writing"):
            report.write_report([sweep], out, study=spec, command="attnbench-study tiny", log_wandb=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_file_written_through_the_atomic_helper_is_never_seen_partial(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    write_text_atomic(path, "a,b\n1,2\n")
    with pytest.raises(OSError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_text("a,b\n3,")  # half a table, then the writer dies
        raise OSError("disk full")
    assert path.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]  # no temporary file left
    with atomic_path(tmp_path / "bar.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path  # matplotlib picks the format from it
        tmp.write_bytes(b"png")
    assert (tmp_path / "bar.png").read_bytes() == b"png"
