"""Hyperparameter search with ``hydra/sweeper=optuna_tpe`` (hydra-optuna-sweeper, the ``optuna`` extra): a
TPE search of 4 trials over the learning rate and the attention size on tiny data, through the real CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .helpers import TINY_OVERRIDES, subprocess_env

pytest.importorskip(
    "hydra_plugins.hydra_optuna_sweeper", reason="the optuna extra is not installed: pip install -e '.[optuna]'"
)

SEARCH = [
    "hydra/sweeper=optuna_tpe",
    "hydra.sweeper.n_trials=4",
    "hydra.sweeper.n_jobs=2",
    "hydra.sweeper.sampler.n_startup_trials=2",  # 2 random trials, then 2 proposed by TPE
    "model.optimizer.lr=tag(log,interval(1e-4,1e-2))",
    "attention.hidden_size=choice(8,16)",
]


def test_tpe_search_of_four_trials(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    overrides = [*TINY_OVERRIDES, "encoder.hidden_size=16", "attention=additive", "debug=limit", "logger=csv"]
    overrides += ["callbacks.rich_progress_bar=null", f"hydra.sweep.dir={sweep}", *SEARCH]
    proc = subprocess.run(
        [sys.executable, "-m", "attnbench.train", "-m", *overrides],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [json.loads((sweep / str(i) / "run.json").read_text()) for i in range(4)]
    assert all(r["status"] == "completed" for r in records)
    lrs = [r["config"]["model"]["optimizer"]["lr"] for r in records]
    sizes = [r["config"]["attention"]["hidden_size"] for r in records]
    assert len(set(lrs)) == 4 and all(1e-4 <= lr <= 1e-2 for lr in lrs), lrs
    assert set(sizes) <= {8, 16}
    # the search maximised what attnbench-train returns: the best val/acc of each trial
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {"model.optimizer.lr", "attention.hidden_size"}
    best = max(records, key=lambda r: r["metrics"]["val/acc"])
    assert math.isclose(result["best_value"], best["metrics"]["val/acc"], rel_tol=1e-9)
    assert math.isclose(result["best_params"]["model.optimizer.lr"], best["config"]["model"]["optimizer"]["lr"])
