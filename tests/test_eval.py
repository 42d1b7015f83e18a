"""``attnbench-eval ckpt_path=...``: reproduces the training run's test metrics from its checkpoint, and
refuses a checkpoint trained with a different model configuration (still writing a failed run.json)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from attnbench.runtime.checkpoints import CheckpointMismatchError
from attnbench.train import run

from .helpers import assert_completed, error_chain, eval_command, read_record, run_cli, subprocess_env

TEST_METRICS = ("test/acc", "test/f1_macro", "test/loss")


@pytest.mark.slow
@pytest.mark.xdist_group("cli_trained_run")
def test_eval_reproduces_the_training_test_metrics(cli_trained_run, tmp_path: Path) -> None:
    trained = read_record(cli_trained_run["run_dir"])
    ckpt = trained["checkpoint"]
    eval_dir = tmp_path / "eval"
    run_cli(
        eval_command(f"ckpt_path={ckpt}", *cli_trained_run["overrides"], f"hydra.run.dir={eval_dir}"),
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
    )
    record = read_record(eval_dir)
    assert_completed(record, metrics=TEST_METRICS)
    assert record["config"]["task_name"] == "eval" and record["config"]["train"] is False
    assert record["checkpoint"] == ckpt
    assert record["metrics"]["test/acc"] == trained["metrics"]["test/acc"]
    for key in TEST_METRICS:
        assert math.isclose(record["metrics"][key], trained["metrics"][key], rel_tol=1e-6), key
    assert not any(k.startswith("val/") for k in record["metrics"])
    assert "fit_s" not in record["timings"]
    assert record["data"]["vocab_size"] == trained["data"]["vocab_size"]
    assert (eval_dir / "eval.log").is_file()


@pytest.mark.slow
@pytest.mark.xdist_group("cli_trained_run")
def test_eval_with_a_different_model_config_fails(cli_trained_run, make_cfg, tmp_path: Path) -> None:
    ckpt = read_record(cli_trained_run["run_dir"])["checkpoint"]
    overrides = [o for o in cli_trained_run["overrides"] if not o.startswith(("encoder", "logger"))]
    cfg = make_cfg(f"ckpt_path={ckpt}", *overrides, "encoder=conv1d", "logger=none", config_name="eval")
    with pytest.raises(CheckpointMismatchError) as info:
        run(cfg)
    # the keys as the user types them, on one line with the fix
    assert "was trained with encoder=bilstm (here conv1d). Fix: pass encoder=bilstm" in str(info.value)
    assert "\n" not in str(info.value) and "model.encoder" not in str(info.value)
    record = read_record(tmp_path / "run")
    assert record["status"] == "failed"
    assert "CheckpointMismatchError" in record["error"] and "encoder=bilstm" in record["error"]


def test_eval_of_a_missing_checkpoint_fails(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}", "logger=none", config_name="eval")
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt"):
        run(cfg)
    record = read_record(tmp_path / "run")
    assert record["status"] == "failed" and "no such checkpoint" in record["error"]


def test_train_false_needs_a_checkpoint(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        run(make_cfg("train=false", "logger=none"))
    assert "ckpt_path" in error_chain(info.value)
    assert read_record(tmp_path / "run")["status"] == "failed"
