"""Weights & Biases: with no credentials, logger=wandb (mode=auto) logs offline under the run directory,
one W&B run per job, and the metrics reach the run summary."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl

from attnbench.runtime.loggers import resolve_wandb_mode, wandb_credentials_present
from attnbench.train import run

from .helpers import assert_completed, read_record


class WandbProbe(pl.Callback):
    """Reads the live W&B run from inside the job: its mode, directory and summary."""

    def __init__(self) -> None:
        self.last_val_acc: float | None = None
        self.seen: dict[str, Any] = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.last_val_acc = float(trainer.callback_metrics["val/acc"])

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import wandb

        experiment = trainer.logger.experiment
        self.seen = {
            "is_global_run": experiment is wandb.run,
            "mode": experiment.settings.mode,
            "offline": experiment.offline,
            "dir": experiment.dir,
            "summary": dict(experiment.summary),
            "project": experiment.project,
        }


@pytest.mark.slow
def test_wandb_logs_offline_without_credentials(make_cfg, tmp_path: Path) -> None:
    import wandb

    assert "WANDB_MODE" not in os.environ and "WANDB_API_KEY" not in os.environ
    assert not Path(os.environ["NETRC"]).exists()
    assert not wandb_credentials_present()

    # One epoch, so the last logged val/acc is also the best (the one in run.json).
    cfg = make_cfg("encoder=conv1d", "debug=limit", "trainer.max_epochs=1", "logger=wandb", "tags=[tests]")
    assert cfg.logger.wandb.mode == "auto"
    probe = WandbProbe()
    record = run(cfg, extra_callbacks=[probe])
    assert_completed(record)

    seen = probe.seen
    assert seen["is_global_run"] and seen["mode"] == "offline" and seen["offline"] is True
    assert seen["project"] == "attnbench"
    assert probe.last_val_acc is not None
    assert math.isclose(seen["summary"]["val/acc"], probe.last_val_acc, rel_tol=1e-6)
    assert math.isclose(seen["summary"]["val/acc"], record["metrics"]["val/acc"], rel_tol=1e-6)

    # The offline run lives in the job's directory, ready for `wandb sync`.
    run_dir = tmp_path / "run"
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1, offline
    assert list(offline[0].glob("run-*.wandb"))
    assert Path(seen["dir"]).resolve().is_relative_to(offline[0].resolve())

    # One W&B run per job: it is finished when run() returns, so the next job starts its own.
    assert wandb.run is None


def test_wandb_run_is_finished_when_the_job_fails(make_cfg, tmp_path: Path) -> None:
    """The run is finished even when the job fails after the logger started."""
    import wandb

    cfg = make_cfg("logger=wandb", "debug=fdr", "trainer.precision=nonsense")  # pl.Trainer rejects it
    with pytest.raises(ValueError, match="nonsense"):
        run(cfg)
    assert wandb.run is None
    assert read_record(tmp_path / "run")["status"] == "failed"
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))


@pytest.mark.parametrize(
    ("env", "mode", "expected"),
    [
        ({}, "auto", "offline"),
        ({"WANDB_API_KEY": "x" * 40}, "auto", "online"),
        ({}, "disabled", "disabled"),
        ({}, "offline", "offline"),
        ({"WANDB_MODE": "dryrun"}, "online", "offline"),
        ({"WANDB_MODE": "disabled"}, "auto", "disabled"),
    ],
)
def test_resolve_wandb_mode(env: dict[str, str], mode: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert resolve_wandb_mode(mode) == expected


def test_credentials_from_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine example.org\n  login user\n  password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert not wandb_credentials_present()
    netrc.write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    assert wandb_credentials_present()
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org/")
    assert not wandb_credentials_present()


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"logger\.wandb\.mode"):
        resolve_wandb_mode("sometimes")
