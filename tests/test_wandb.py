"""Weights & Biases: with no credentials, logger=wandb (mode=auto) logs offline under the run directory,
one W&B run per job, and the metrics reach the run summary."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl

from attnbench.runtime.loggers import resolve_wandb_mode, wandb_credentials, wandb_credentials_present, wandb_settings
from attnbench.train import run

from .helpers import assert_completed, read_record, subprocess_env


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


def test_credentials_from_netrc_for_wandbs_own_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The netrc entry counts only for the host wandb is configured for (its default, WANDB_BASE_URL,
    or the --host that `wandb login --host` keeps in wandb's settings file)."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine example.org\n  login user\n  password " + "a" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert wandb_credentials() is None
    default_host = wandb_settings().base_url.split("://")[1]
    netrc.write_text(f"machine {default_host}\n  login user\n  password " + "a" * 40 + "\n")
    assert wandb_credentials() == f"the netrc entry for https://{default_host}"
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert not wandb_credentials_present()
    monkeypatch.delenv("WANDB_BASE_URL")
    # `wandb login --host URL` keeps the address in wandb's settings file, not in the environment
    netrc.write_text("machine example.org\n  login user\n  password " + "a" * 40 + "\n")
    assert wandb_credentials() is None
    settings = Path(os.environ["WANDB_CONFIG_DIR"]) / "settings"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("[default]\nbase_url = https://example.org\n")
    assert wandb_credentials() == "the netrc entry for https://example.org"


def test_credentials_written_by_wandb_login_are_seen(tmp_path: Path) -> None:
    """``wandb.login(key=...)`` in an isolated home writes the key where wandb keeps it; a fresh process
    (as the next `attnbench-train` is) sees it and chooses online."""
    env = subprocess_env(tmp_path)
    env["NETRC"] = str(tmp_path / "home-netrc")
    login = "import wandb; wandb.login(key='" + "b" * 40 + "', verify=False)"
    subprocess.run([sys.executable, "-c", login], env=env, check=True, capture_output=True, timeout=120)
    assert Path(env["NETRC"]).is_file()
    probe = (
        "from attnbench.runtime.loggers import resolve_wandb_mode, wandb_credentials\n"
        "print(wandb_credentials()); print(resolve_wandb_mode('auto'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
    source, mode = out.stdout.strip().splitlines()[-2:]
    assert source.startswith("the netrc entry for https://") and mode == "online"


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"logger\.wandb\.mode"):
        resolve_wandb_mode("sometimes")


def test_the_best_checkpoints_validation_is_not_an_extra_epoch_point(make_cfg) -> None:
    """The post-fit validation of the best checkpoint is logged as ``best_checkpoint/val/...``: the
    per-epoch ``val/acc`` curve has one point per epoch (not one more at ``epoch = max_epochs``)."""
    import csv

    cfg = make_cfg("encoder=conv1d", "debug=limit", "trainer.max_epochs=2", "logger=csv")
    record = run(cfg)
    assert_completed(record)
    (path,) = Path(record["run_dir"]).rglob("metrics.csv")
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    # the per-epoch curve: rows with an epoch (the run's summary row, written last, has none)
    epochs = [r["epoch"] for r in rows if r.get("val/acc") and r.get("epoch")]
    assert epochs == ["0", "1"]
    best = [float(r["best_checkpoint/val/acc"]) for r in rows if r.get("best_checkpoint/val/acc")]
    assert best == [pytest.approx(record["metrics"]["val/acc"])]
