"""Helpers shared by the tests: in-process Hydra composition, run records, the CLI as a subprocess,
and the environment every test runs in (no W&B credentials, files only under a temporary directory)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from attnbench.config import config_dir, register_configs

register_configs()  # attnbench.train does this at import; composition alone needs it too

CONF = config_dir()

# Small enough that a run is data loading plus well under a second of training.
TINY_OVERRIDES = [
    "trainer=cpu",
    "data.max_length=32",
    "data.max_vocab=2000",
    "model.embedding_dim=16",
]
# Two epochs of a tiny BiLSTM on 64 needle sequences of 12 tokens: the trained run of the command tests.
TINY_NEEDLE = [
    "data=needle", "data.synthetic.length=12", "data.synthetic.num_train=64", "data.synthetic.num_val=16",
    "data.synthetic.num_test=16", "data.max_length=12", "trainer=cpu", "trainer.max_epochs=2",
    "model.embedding_dim=8", "encoder=bilstm", "encoder.hidden_size=8", "callbacks.rich_progress_bar=null",
    "logger=csv",
]  # fmt: skip
# Group-specific sizes are set after composition when the chosen option has the key (see `shrink`),
# so new encoder/attention options are covered without editing this list.
TINY_SIZES = {"encoder": {"hidden_size": 16, "filters": 16}, "attention": {"hidden_size": 16}}

EXPECTED_METRICS = ("val/acc", "val/f1_macro", "val/loss", "test/acc", "test/f1_macro", "test/loss")

# The CLI training run shared by the eval and `hydra.run.dir` tests: debug=limit saves checkpoints.
CLI_TRAIN_OVERRIDES = [*TINY_OVERRIDES, "encoder=bilstm", "encoder.hidden_size=16", "debug=limit", "logger=csv"]

# DDP with 2 CPU processes (gloo), tiny model, a few training steps, the full val and test splits.
# The 210 val / 208 test examples (BBC News de-duplicated, 32 tokens) in batches of 50 give 5 batches:
# rank 0 evaluates 3, rank 1 evaluates 2 (100), so a mean of per-rank means would not be the exact mean.
DDP_OVERRIDES = [
    "trainer=ddp_cpu",
    "trainer.devices=2",
    "data.max_length=32",
    "data.max_vocab=2000",
    "model.embedding_dim=16",
    "encoder=bilstm",
    "encoder.hidden_size=16",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "data.eval_batch_size=50",
    "callbacks.rich_progress_bar=null",
]
DDP_TIMEOUT = 600  # seconds for one CLI call: process start-up dominates, and 2 cores are shared


# ---- environment -----------------------------------------------------------------------------


def isolated_env_vars(base: Path) -> dict[str, str | None]:
    """Environment for a test: no W&B credentials (so mode=auto must choose offline), every W&B and
    attnbench directory under ``base``. ``None`` means: remove the variable."""
    wandb_home = base / "wandb-home"
    return {
        "WANDB_API_KEY": None,
        "WANDB_IDENTITY_TOKEN_FILE": None,
        # wandb.init in this process keeps its service's address here; a subprocess inheriting it would
        # share that service (and the run ids it holds) instead of starting its own, as a user's run does
        "WANDB_SERVICE": None,
        "WANDB_MODE": None,
        "WANDB_BASE_URL": None,
        "NETRC": str(base / "no-such-netrc"),
        "WANDB_DIR": str(wandb_home / "dir"),
        "WANDB_CACHE_DIR": str(wandb_home / "cache"),
        "WANDB_CONFIG_DIR": str(wandb_home / "config"),
        "WANDB_DATA_DIR": str(wandb_home / "data"),
        "WANDB_ARTIFACT_DIR": str(wandb_home / "artifacts"),
        "WANDB_SILENT": "true",
        "ATTNBENCH_ROOT": str(base / "root"),
        "HYDRA_FULL_ERROR": "1",
        "OMP_NUM_THREADS": "1",  # CLI subprocesses: one torch thread, as in-process (see conftest.py)
        "MKL_NUM_THREADS": "1",
    }


def subprocess_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in isolated_env_vars(base).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# ---- composition -----------------------------------------------------------------------------


def shrink(cfg: DictConfig) -> None:
    """Tiny hidden sizes for whichever encoder/attention options were composed."""
    with open_dict(cfg):
        for group, sizes in TINY_SIZES.items():
            for key, value in sizes.items():
                if key in cfg[group]:
                    cfg[group][key] = value


def compose_config(
    overrides: list[str] | None = None,
    output_dir: str | Path | None = None,
    config_name: str = "config",
    tiny: bool = False,
) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` as the CLI would, minus the ``hydra`` node (which a
    ``@hydra.main`` function never sees), with ``paths.output_dir`` set to ``output_dir``."""
    overrides = [*(TINY_OVERRIDES if tiny else []), *(overrides or [])]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        if output_dir is not None:
            cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    if tiny:
        shrink(cfg)
    return cfg


def error_chain(err: BaseException | None) -> str:
    """The messages of an exception and its causes: what the user reads in the traceback."""
    parts = []
    while err is not None:
        parts.append(f"{type(err).__name__}: {err}")
        err = err.__cause__ or err.__context__
    return "\n".join(parts)


# ---- run records and the CLI -----------------------------------------------------------------


def read_record(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    assert path.is_file(), f"no run.json in {run_dir}: {sorted(p.name for p in Path(run_dir).glob('*'))}"
    return json.loads(path.read_text())


def assert_completed(record: dict[str, Any], metrics: tuple[str, ...] = EXPECTED_METRICS) -> None:
    assert record["status"] == "completed", record.get("error")
    missing = [k for k in metrics if k not in record["metrics"]]
    assert not missing, f"missing metrics {missing} in {record['metrics']}"
    for key in metrics:
        value = record["metrics"][key]
        assert math.isfinite(value), f"{key}={value}"
        if key.endswith(("/acc", "/f1_macro")):
            assert 0.0 <= value <= 1.0, f"{key}={value}"
    assert record["params"] and record["params"] > 0


def run_cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command, failing the test with the end of its output if it fails."""
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(args)} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n"
        f"--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc


def train_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "attnbench.train", *overrides]


def eval_command(*overrides: str) -> list[str]:
    script = Path(sys.executable).parent / "attnbench-eval"  # the console script, as users run it
    return [str(script), *overrides] if script.is_file() else [sys.executable, "-m", "attnbench.evaluate", *overrides]


def single_process_trainer() -> pl.Trainer:
    """One CPU process without loggers, checkpoints or progress bar: the reference evaluation that
    distributed results are compared with."""
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
