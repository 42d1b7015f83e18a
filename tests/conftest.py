"""Fixtures: every test runs in an isolated environment (no W&B credentials, so no network; all files
under tmp_path; a clean Hydra); one CLI training run and the BBC News data are shared per session."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from .helpers import (
    CLI_TRAIN_OVERRIDES,
    DDP_OVERRIDES,
    DDP_TIMEOUT,
    compose_config,
    isolated_env_vars,
    run_cli,
    subprocess_env,
    train_command,
)

# One torch thread: the models here are tiny, so threads only add synchronisation, and on a busy
# 2-core machine OpenMP spin-waits made a 20-step LSTM forward 300x slower with 2 threads (0.3 s vs 1 ms).
# Parallelism comes from pytest-xdist (`-n 2`) instead.
torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist registers it too; registered here so --strict-markers holds without xdist
    config.addinivalue_line("markers", "xdist_group(name): run in one worker under --dist loadgroup")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in isolated_env_vars(tmp_path).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg(*overrides, tiny=True, name="run", config_name="config")``: a composed config (tiny
    sizes by default) whose run directory is ``tmp_path / name``."""

    def make(*overrides: str, tiny: bool = True, name: str = "run", config_name: str = "config") -> DictConfig:
        return compose_config(list(overrides), output_dir=tmp_path / name, config_name=config_name, tiny=tiny)

    return make


@pytest.fixture(scope="session")
def cli_trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``python -m attnbench.train <CLI_TRAIN_OVERRIDES> hydra.run.dir=<dir>`` run per session.

    Its tests are marked ``xdist_group("cli_trained_run")`` so ``--dist loadgroup`` (``make test``)
    keeps them on one worker; with any other distribution the workers share the run through a file
    lock (the pattern in the xdist docs), so it still happens once.
    """
    return _shared_cli_run(tmp_path_factory, "cli-trained-run", list(CLI_TRAIN_OVERRIDES))


@pytest.fixture(scope="session")
def ddp_trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``python -m attnbench.train -m <DDP_OVERRIDES> logger=[csv,wandb] seed=1,2
    hydra.sweep.dir=<dir>`` per session: two DDP jobs (2 gloo processes each) one after the other in one
    process, Hydra's basic launcher. ``run_dir`` is job 0's directory, ``overrides`` its overrides, the
    job's own ``seed`` included. Shared like :func:`cli_trained_run` (group ``ddp_trained_run``)."""
    info = _shared_cli_run(
        tmp_path_factory, "ddp-trained-run", [*DDP_OVERRIDES, "logger=[csv,wandb]", "seed=1,2"], DDP_TIMEOUT,
        multirun=True,
    )  # fmt: skip
    return {**info, "overrides": [*info["overrides"][:-1], "seed=1"]}  # job 0's: the sweep's seeds last


def _shared_cli_run(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    overrides: list[str],
    timeout: float = 300,
    multirun: bool = False,
) -> dict[str, Any]:
    """Run ``python -m attnbench.train <overrides> hydra.run.dir=<dir>`` (``multirun``: ``-m <overrides>
    hydra.sweep.dir=<dir>``) once per test session: the first xdist worker to ask runs it under a file
    lock, the others read its description."""
    from filelock import FileLock  # a dependency of torch

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the directory all workers' base temps live in
    info_file = shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if info_file.is_file():
            return json.loads(info_file.read_text())
        base = shared / name
        run_dir, sweep_dir, cwd = base / "run", base / "sweep", base / "cwd"
        cwd.mkdir(parents=True)
        command = (
            train_command("-m", *overrides, f"hydra.sweep.dir={sweep_dir}")
            if multirun
            else train_command(*overrides, f"hydra.run.dir={run_dir}")
        )
        proc = run_cli(command, cwd=cwd, env=subprocess_env(base), timeout=timeout)
        info = {
            "run_dir": str(sweep_dir / "0" if multirun else run_dir),  # a multirun's: its job 0
            "sweep_dir": str(sweep_dir),
            "cwd": str(cwd),
            "base": str(base),
            "overrides": overrides,
            "output": proc.stdout + proc.stderr,
        }
        info_file.write_text(json.dumps(info))
        return info


@pytest.fixture(scope="session")
def bbc_corpus():
    from attnbench.data import load_bbc_news

    return load_bbc_news()


@pytest.fixture(scope="session")
def bbc_datamodule():
    """The BBC News data module with the default data config, set up once. Do not mutate."""
    from attnbench.data import TextClassificationDataModule

    dm = TextClassificationDataModule.from_schema()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's headless Chromium, installed with apt-get when missing (CI runs as root on Debian). The
    tests that need it skip only when it truly cannot be installed (no apt-get, not root, no registry)."""
    import shutil
    import subprocess

    from filelock import FileLock

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be (needs apt-get as root): apt-get install chromium")
    with FileLock("/tmp/attnbench-chromium-install.lock"):  # xdist workers install once
        if not shutil.which("chromium"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            steps = [
                ["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
            ]
            for step in steps:
                proc = subprocess.run(step, capture_output=True, text=True, timeout=900, env=env)
                if proc.returncode != 0 and step[1] == "install":
                    pytest.skip(f"apt-get install chromium failed: {proc.stderr[-500:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium still not found after apt-get install chromium")
    return found
