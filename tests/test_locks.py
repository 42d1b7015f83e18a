"""A run directory is trained by one process at a time (issue 21): a second process leaves a run that a
live process trains to it (fails at once naming it, or waits and uses its record), the progress display
counts that run as running from its start, and two invocations of one study share its runs: each run is
trained once, and both print the tables of a single invocation."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from attnbench.reporting.report import write_report
from attnbench.runtime.locks import RunLock, RunLocked, lock_holder, one_writer
from attnbench.studies.progress import scan
from attnbench.studies.study_file import load_study

from .helpers import TINY_OVERRIDES, read_record, subprocess_env, train_command

REPO = Path(__file__).resolve().parents[1]
NEURAL = ["encoder=bilstm", "encoder.hidden_size=16", "attention=none"]


def study_spec(variants: dict[str, list[str]], extra: list[str] | None = None) -> dict[str, object]:
    return {
        "description": "Tiny BiLSTM poolings.",
        "question": "Do two invocations agree?",
        "overrides": [*TINY_OVERRIDES, "debug=limit", "logger=csv", "callbacks.rich_progress_bar=null", *(extra or [])],
        "seeds": [1],
        "variants": {name: {"label": name, "overrides": [*NEURAL, *o]} for name, o in variants.items()},
        "table": {"metrics": ["test/acc"], "baseline": next(iter(variants))},
    }


def env_for(base: Path, **extra: str) -> dict[str, str]:
    return {
        **subprocess_env(base),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        **extra,
    }


def wait_for(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_the_lock_names_its_live_holder_and_dies_with_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import pathlib, time; from attnbench.runtime.locks import RunLock; "
         f"lock = RunLock(pathlib.Path({str(tmp_path)!r})).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=env_for(tmp_path),
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert (lock_holder(tmp_path) or {}).get("pid") == holder.pid
        with pytest.raises(RunLocked, match=f"pid {holder.pid} on host "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    # a SIGKILL left the lock file behind, but not the lock: the next process takes it
    assert (tmp_path / "run.lock").is_file() and lock_holder(tmp_path) is None
    with RunLock(tmp_path).acquire():
        assert (lock_holder(tmp_path) or {}).get("pid") == os.getpid()
    assert lock_holder(tmp_path) is None


def test_a_report_folder_is_written_by_one_process_at_a_time(tmp_path: Path) -> None:
    """``write_report`` is wrapped in :func:`one_writer`: a second writer waits for the first to end."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import pathlib, time; from attnbench.runtime.locks import exclusive\n"
         f"with exclusive(pathlib.Path({str(tmp_path)!r}) / '.report.lock'):\n"
         "    print('held', flush=True); time.sleep(3)"],
        stdout=subprocess.PIPE, text=True, env=env_for(tmp_path),
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    held = time.monotonic()

    @one_writer
    def report(sweep_dirs: list[Path], out: Path) -> float:
        return time.monotonic() - held

    assert report([], tmp_path) >= 2.5  # it ran once the holder's 3 s block had ended
    holder.wait()
    assert getattr(write_report, "__wrapped__", None) is not None  # the report writer is the wrapped one


def test_a_run_mid_training_is_left_to_its_owner_and_counted_running(tmp_path: Path) -> None:
    spec_file = tmp_path / "one.yaml"
    spec_file.write_text(yaml.safe_dump(study_spec({"last": ["pooling=last"]}), sort_keys=False))
    spec = load_study(spec_file)
    sweep = tmp_path / "sweep"
    run_dir = sweep / spec.expected_jobs()[0].dir_name
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    env = env_for(tmp_path, ATTNBENCH_TEST_PAUSED=str(paused), ATTNBENCH_TEST_RESUME=str(resume))
    command = train_command(
        *TINY_OVERRIDES, *NEURAL, "debug=limit", "logger=csv", "callbacks.rich_progress_bar=null",
        "+callbacks.pause._target_=tests.interrupt.PauseAtBatch", f"hydra.run.dir='{run_dir}'",  # '=' in it
    )  # fmt: skip
    since = time.time()
    owner = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    waiter = None
    try:
        wait_for(paused.exists, 240, "the run to reach its pause")
        # mid-training, no run.json yet: the display counts it running
        assert not (run_dir / "run.json").exists()
        progress = scan(spec, sweep, since)
        assert (progress.running, progress.pending, progress.completed) == (1, 0, 0), progress.line()
        assert (lock_holder(run_dir) or {}).get("pid") == owner.pid

        # the same command again: refused at once, naming the owner, nothing of the run changed
        before = {p.name: p.read_bytes() for p in [run_dir / "attempts.json", *run_dir.glob("checkpoints/*")]}
        started = time.monotonic()
        second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert second.returncode == 1, second.stderr[-3000:]
        assert f"is being trained by pid {owner.pid} on host" in second.stdout + second.stderr
        assert "Traceback" not in second.stderr
        assert {p.name: p.read_bytes() for p in [run_dir / "attempts.json", *run_dir.glob("checkpoints/*")]} == before
        assert time.monotonic() - started < 120  # process start-up, no waiting

        # on_locked=wait (what study jobs use) waits for the owner, then takes its record
        waiter = subprocess.Popen(
            [*command, "on_locked=wait", "skip_completed=true"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        wait_for(lambda: f"waiting for pid {owner.pid}" in (run_dir / "train.log").read_text(), 240, "the waiter")
        resume.touch()
        assert owner.wait(timeout=240) == 0
        out, _ = waiter.communicate(timeout=240)
        assert waiter.returncode == 0, out[-3000:]
    finally:
        resume.touch()
        for proc in (owner, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
    record = read_record(run_dir)
    assert record["status"] == "completed" and [a["status"] for a in record["attempts"]] == ["completed"]
    assert record["attempts"][0]["pid"] == owner.pid
    assert "its record is used" in out and lock_holder(run_dir) is None
    progress = scan(spec, sweep, since)
    assert (progress.running, progress.completed) == (0, 1), progress.line()


def study(study_file: Path, base: Path, sweep: Path, out: Path) -> subprocess.Popen[str]:
    script = Path(sys.executable).parent / "attnbench-study"
    cli = [str(script)] if script.is_file() else [sys.executable, "-m", "attnbench.cli.study"]
    args = ["--launcher", "joblib", "--jobs", "1", "--sweep-dir", str(sweep), "--out", str(out), "--no-wandb"]
    return subprocess.Popen(
        [*cli, str(study_file), *args], cwd=base, env=env_for(base), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> str:
    """The output of a study call that ended with its one failed run (exit code 1)."""
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "2/3 completed" in out, out[-4000:]
    return out


@pytest.mark.slow
def test_two_invocations_of_a_study_train_each_run_once_and_agree(tmp_path: Path) -> None:
    """Two ``attnbench-study`` on one sweep directory, the second started while the first trains; a
    diverging variant fails and shows as failed in both tables."""
    diverge = ["pooling=mean", "model.optimizer.lr=1e20"]
    variants = {"mean": ["pooling=mean"], "max": ["pooling=max"], "diverge": diverge}
    study_file = tmp_path / "tiny.yaml"
    study_file.write_text(yaml.safe_dump(study_spec(variants), sort_keys=False))
    spec = load_study(study_file)
    sweep = tmp_path / "sweep"

    started = time.monotonic()
    first = study(study_file, tmp_path, sweep, tmp_path / "out1")
    wait_for(lambda: any(lock_holder(sweep / j.dir_name) for j in spec.expected_jobs()), 240, "a first run")
    second = study(study_file, tmp_path, sweep, tmp_path / "out2")
    outputs = [finish(first), finish(second)]
    both_s = time.monotonic() - started

    for job in spec.expected_jobs():
        record = read_record(sweep / job.dir_name)
        tried = record["attempts"]
        spans = [(a["start"], a["end"]) for a in tried]
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), tried  # one at a time
        diverged = job.variant == "diverge"
        assert record["status"] == ("failed" if diverged else "completed"), record.get("error")
        # a completed run was trained once; a failed one may be retried by the call that finds it failed,
        # as any later call of the study retries it, but never while it runs and never marked killed
        assert {a["status"] for a in tried} == {record["status"]} and (diverged or len(tried) == 1), tried
        if diverged:
            assert "DivergenceError: the training loss is nan at step" in record["error"]
        names = sorted(p.name for p in (sweep / job.dir_name / "checkpoints").glob("*.ckpt"))
        assert not any("-v1" in n for n in names), names

    print(f"two concurrent invocations: {both_s:.0f} s")
    # both report the same runs (each trained once, above), so the same tables; the run records are the
    # numbers of runs trained alone: every run held its directory's lock from start to end
    for name in ("table.csv", "pairwise.csv"):
        tables = [(tmp_path / o / name).read_text().splitlines() for o in ("out1", "out2")]
        assert tables[0] == tables[1] and len(tables[0]) > 1, (name, outputs)
    cells = {r["row"]: r for r in csv.DictReader((tmp_path / "out1" / "table.csv").open()) if r["metric"] == "test/acc"}
    for job in spec.expected_jobs():
        if job.variant != "diverge":
            assert float(cells[job.variant]["mean"]) == read_record(sweep / job.dir_name)["metrics"]["test/acc"]
    assert all("| diverge | failed (1) |" in (tmp_path / o / "table.md").read_text() for o in ("out1", "out2"))
    history = [json.loads(line) for line in (sweep / "study_history.jsonl").read_text().splitlines()]
    assert len(history) == 2 and all(h["completed"] == 2 for h in history)
