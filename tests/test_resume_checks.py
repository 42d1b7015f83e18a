"""What a re-run may not fake (issue 21), through the CLI: a torn ``last.ckpt`` is set aside and the run
resumes from the newest readable checkpoint or starts afresh; a diverging run fails at the step its loss
went non-finite; a killed run's directory re-run with another configuration is archived, not resumed; an
explicit ``ckpt_path`` gets the checks ``last.ckpt`` gets; a mid-epoch checkpoint is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from attnbench.runtime.checkpoints import AtomicCheckpointIO

from .helpers import CLI_TRAIN_OVERRIDES, read_record, run_cli, subprocess_env, train_command

REPO = Path(__file__).resolve().parents[1]
TRAIN = [*CLI_TRAIN_OVERRIDES, "callbacks.rich_progress_bar=null"]


def env_for(base: Path) -> dict[str, str]:
    return {
        **subprocess_env(base),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def attempts(run_dir: Path) -> list[dict[str, object]]:
    return json.loads((run_dir / "attempts.json").read_text())["attempts"]


def failing(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(command, cwd=cwd, env=env_for(cwd), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def killed_by_itself(command: list[str], cwd: Path) -> None:
    """Run ``command`` in its own process group, which a fault injector of tests/interrupt.py SIGKILLs."""
    proc = subprocess.run(
        command, cwd=cwd, env=env_for(cwd), capture_output=True, text=True, timeout=300, start_new_session=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def test_a_checkpoint_write_that_fails_leaves_the_earlier_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, target)
    with pytest.raises(Exception, match="pickle"):  # torch.save fails mid-write: a lambda cannot be pickled
        io.save_checkpoint({"step": 2, "bad": lambda: 0}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_a_torn_last_checkpoint_is_set_aside_and_the_run_goes_on(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = train_command(*TRAIN, f"hydra.run.dir={run_dir}")
    run_cli(command, cwd=tmp_path, env=env_for(tmp_path))
    ckpts = run_dir / "checkpoints"
    (best,) = [p for p in ckpts.glob("epoch*.ckpt")]
    last = ckpts / "last.ckpt"
    torn = last.read_bytes()[:1000]
    last.unlink()  # last.ckpt may be a hard link to the best checkpoint: tear a file of its own
    last.write_bytes(torn)  # a kill mid-write with a non-atomic writer

    proc = run_cli(command, cwd=tmp_path, env=env_for(tmp_path))  # the same command
    aside = ckpts / next(p.name for p in ckpts.iterdir() if p.name.startswith("last.ckpt.unreadable-"))
    assert aside.read_bytes() == torn  # kept, not deleted
    line = next(ln for ln in (run_dir / "train.log").read_text().splitlines() if "unreadable checkpoint" in ln)
    assert str(last) in line and "PytorchStreamReader failed reading zip archive" in line and str(aside.name) in line
    assert "Traceback" not in proc.stderr
    # the CSV rows are kept on resume: Lightning's warning that they will be deleted is not shown
    assert "Previous log files" not in proc.stdout + proc.stderr
    second = attempts(run_dir)[-1]
    assert second["status"] == "completed" and second["resumed_from"] == str(best)
    (entry,) = second["set_aside"]
    assert (entry["file"], entry["moved_to"]) == (str(last), str(aside)) and "PytorchStreamReader" in entry["reason"]

    # no readable checkpoint at all: a fresh start, recorded as such
    last.write_bytes(torn)
    best.write_bytes(best.read_bytes()[:500])
    run_cli(command, cwd=tmp_path, env=env_for(tmp_path))
    third = attempts(run_dir)[-1]
    assert third["status"] == "completed" and third["resumed_from"] is None
    assert sorted(e["file"] for e in third["set_aside"]) == sorted([str(best), str(last)])
    record = read_record(run_dir)
    assert record["epochs"] == 2 and len(record["attempts"]) == 3


def test_a_diverging_run_fails_at_the_step_its_loss_went_non_finite(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = failing(train_command(*TRAIN, "model.optimizer.lr=1e20", f"hydra.run.dir={run_dir}"), tmp_path)
    record = read_record(run_dir)
    assert record["status"] == "failed" and record["metrics"] == {}
    assert record["error"].startswith("DivergenceError: the training loss is nan at step ")
    assert "model.optimizer.lr" in record["error"] and "trainer.gradient_clip_val" in record["error"]
    assert record["error"].split(": ", 1)[1] in proc.stdout + proc.stderr

    # allow_nonfinite_loss=true trains through it; the non-finite metrics then fail the finished run
    run_dir = tmp_path / "through"
    failing(train_command(*TRAIN, "model.optimizer.lr=1e20", "allow_nonfinite_loss=true", f"hydra.run.dir={run_dir}"),
            tmp_path)  # fmt: skip
    record = read_record(run_dir)
    assert record["status"] == "failed" and "non-finite evaluation metrics" in record["error"]
    assert "val/loss=nan" in record["error"] and record["epochs"] == 2
    assert all(v == v for v in record["metrics"].values())  # no NaN recorded as a number


def test_a_killed_run_re_run_with_another_config_is_archived_not_resumed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    kill = ["+callbacks.kill._target_=tests.interrupt.KillAtEpoch", "+callbacks.kill.epoch=1"]
    killed_by_itself(train_command(*TRAIN, *kill, f"hydra.run.dir={run_dir}"), tmp_path)
    assert not (run_dir / "run.json").exists()
    killed = (run_dir / "attempts.json").read_text()

    # another configuration (another split; without the kill) in the same directory
    run_cli(train_command(*TRAIN, "data.split_seed=7", f"hydra.run.dir={run_dir}"), tmp_path, env_for(tmp_path))
    record = read_record(run_dir)
    assert record["status"] == "completed" and record.get("resumed_from") is None
    assert [a["status"] for a in record["attempts"]] == ["completed"]
    (archive,) = (run_dir / ".previous").iterdir()
    assert (archive / "attempts.json").read_text() == killed  # the killed attempt's history is kept
    assert (archive / "checkpoints" / "last.ckpt").is_file()


def test_a_mid_epoch_checkpoint_is_refused(tmp_path: Path) -> None:
    # killed at batch 3 of epoch 0, after the mid-epoch validation at batch 2 saved last.ckpt
    run_dir = tmp_path / "mid"
    mid = [*TRAIN, "trainer.val_check_interval=2"]
    kill = [
        "+callbacks.kill._target_=tests.interrupt.KillAtBatch",
        "+callbacks.kill.epoch=0",
        "+callbacks.kill.batch=3",
    ]
    first = subprocess.run(train_command(*mid, *kill, f"hydra.run.dir={run_dir}"), cwd=tmp_path, env=env_for(tmp_path),
                           capture_output=True, text=True, timeout=300, start_new_session=True)  # fmt: skip
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = failing(train_command(*mid, *kill, f"hydra.run.dir={run_dir}"), tmp_path)
    assert f"checkpoint {last} was saved mid-epoch (epoch 0, after 2 batches" in proc.stdout + proc.stderr
    assert "resume=false" in read_record(run_dir)["error"]


@pytest.mark.xdist_group("cli_trained_run")
def test_an_explicit_checkpoint_gets_the_checks_of_last_ckpt(
    cli_trained_run: dict[str, object], tmp_path: Path
) -> None:
    source = Path(str(cli_trained_run["run_dir"])) / "checkpoints" / "last.ckpt"
    # another learning rate than the checkpoint's: refused like last.ckpt, naming the key
    other = tmp_path / "other"
    failing(train_command(*TRAIN, f"ckpt_path={source}", "model.optimizer.lr=0.5", f"hydra.run.dir={other}"), tmp_path)
    error = read_record(other)["error"]
    assert "model.optimizer.lr=0.002 (here 0.5)" in error and "Fix: pass model.optimizer.lr=0.002" in error

    # another data.max_vocab would fit another tokenizer: the data are encoded with the checkpoint's
    run_dir = tmp_path / "more"
    more = [*TRAIN, f"ckpt_path={source}", "data.max_vocab=500", "trainer.max_epochs=3", f"hydra.run.dir={run_dir}"]
    run_cli(train_command(*more), tmp_path, env_for(tmp_path))
    record = read_record(run_dir)
    assert record["resumed_from"] == str(source) and record["epochs"] == 3
    assert [g["lr"] for g in record["optimizer_used"]] == [0.002]
    saved = [
        torch.load(p, weights_only=True)["TextClassificationDataModule"]
        for p in (source, run_dir / "checkpoints" / "last.ckpt")
    ]
    # the tokenizer and labels the data were encoded with (the data settings themselves are this run's)
    assert [(d["tokenizer_json"], d["label_names"]) for d in saved] == [
        (saved[0]["tokenizer_json"], saved[0]["label_names"])
    ] * 2
