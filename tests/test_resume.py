"""A run killed like a preempted node and run again with the same command keeps its whole history:
one W&B run (the same id in both attempts), every epoch's CSV row once with steps increasing, TensorBoard
steps once each, both attempts in run.json, and the metrics of a run that was never interrupted."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from .helpers import CLI_TRAIN_OVERRIDES, assert_completed, read_record, run_cli, subprocess_env, train_command

REPO = Path(__file__).resolve().parents[1]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.xdist_group("cli_trained_run")
def test_a_killed_run_resumes_with_its_whole_history(cli_trained_run: dict[str, Any], tmp_path: Path) -> None:
    """Attempt 1 SIGKILLs its own process group at the start of epoch 1, right after epoch 0's
    checkpoints are written (tests/interrupt.py). Attempt 2 is the same command: it resumes from
    last.ckpt and finishes. Compared with the uninterrupted run of the same config (``cli_trained_run``)."""
    run_dir = tmp_path / "run"
    overrides = [o for o in CLI_TRAIN_OVERRIDES if not o.startswith("logger=")]
    command = train_command(
        *overrides,
        "logger=[csv,tensorboard,wandb]",
        "+callbacks.kill._target_=tests.interrupt.KillAtEpoch",
        "+callbacks.kill.epoch=1",
        f"hydra.run.dir={run_dir}",
    )
    env = {
        **subprocess_env(tmp_path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    first = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, start_new_session=True
    )
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert not (run_dir / "run.json").exists()
    run_cli(command, cwd=tmp_path, env=env)

    record = read_record(run_dir)
    assert_completed(record)
    last = run_dir / "checkpoints" / "last.ckpt"
    # run.json: both attempts, the first killed, the second resumed from epoch 0's last.ckpt
    attempts = record["attempts"]
    assert [a["status"] for a in attempts] == ["killed", "completed"]
    assert attempts[0]["resumed_from"] is None and attempts[1]["resumed_from"] == str(last)
    assert attempts[0]["start"] <= attempts[0]["end"] <= attempts[1]["start"] <= attempts[1]["end"]

    # W&B (offline): one directory per attempt, both named with the run's one id
    offline = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and {p.name.rsplit("-", 1)[1] for p in offline} == {record["run_id"]}
    ids = [line.rsplit(" ", 2)[1] for line in (run_dir / "train.log").read_text().splitlines() if "W&B run " in line]
    assert ids == [record["run_id"]] * 2  # wandb.run.id of each attempt, as it logged it

    # CSV: the val row of each epoch exactly once, every step in increasing order
    rows = csv_rows(run_dir / "csv" / "metrics.csv")
    val = [(int(r["epoch"]), int(r["step"])) for r in rows if r.get("val/acc") and r.get("epoch")]
    reference = csv_rows(Path(cli_trained_run["run_dir"]) / "csv" / "metrics.csv")
    assert val == [(int(r["epoch"]), int(r["step"])) for r in reference if r.get("val/acc") and r.get("epoch")]
    assert [e for e, _ in val] == [0, 1]  # the best checkpoint's validation is best_checkpoint/val/... (no epoch 2)
    best = [r["best_checkpoint/val/acc"] for r in rows if r.get("best_checkpoint/val/acc")]
    assert best == [r["best_checkpoint/val/acc"] for r in reference if r.get("best_checkpoint/val/acc")]
    assert len(best) == 1
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps)
    assert [r.get("val/acc") for r in rows] == [r.get("val/acc") for r in reference]

    # TensorBoard: one log dir; val/acc at the CSV's steps, then the run's summary at the last step
    scalars = EventAccumulator(str(run_dir / "tensorboard")).Reload().Scalars("val/acc")
    last_step = int(next(r["step"] for r in rows if r.get("best_checkpoint/val/acc")))  # the fit's last step
    assert [s.step for s in scalars] == [step for _, step in val] + [last_step]

    # the same metrics as the uninterrupted run (CPU determinism)
    assert record["metrics"] == json.loads((Path(cli_trained_run["run_dir"]) / "run.json").read_text())["metrics"]
