"""Checkpoints written before the classifiers became ``nn.Module``s wrapped by ``ClassificationTask``
(weights at the top level, no ``architecture``) still load: evaluated with today's code they give the
test metrics their run recorded. The two checkpoints in ``tests/data/legacy/`` (``.pt``: ``*.ckpt`` is
git-ignored as run output) and the text classifier's ``run.json`` were written by that code (commit
e7b4e43) with the overrides below, one epoch on a tiny generated needle task."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from attnbench.runtime.checkpoints import load_checkpoint, load_weights, restore_data_state

from .helpers import compose_config, single_process_trainer, subprocess_env

LEGACY = Path(__file__).parent / "data" / "legacy"
DATA = [
    "data=needle",
    "data.synthetic.length=[8,16]",
    "data.synthetic.num_train=32",
    "data.synthetic.num_val=8",
    "data.synthetic.num_test=8",
    "data.dedup=none",  # the data those checkpoints were trained on (before de-duplication existed)
    "trainer=cpu",
    "model.embedding_dim=8",
]
# (file, the run's own overrides, the test metrics its run.json recorded)
CASES = {
    "text_classifier.pt": (
        ["encoder=bilstm", "encoder.hidden_size=4", "attention=additive", "attention.hidden_size=4"],
        {"test/acc": 0.0625, "test/f1_macro": 0.0833333358168602, "test/loss": 2.3023438453674316},
    ),
    "keras_conv1d.pt": (
        ["experiment=keras_conv1d", "model.embedding_dim=4", "model.filters=4", "data.max_vocab=1000"],
        {"test/acc": 0.0625, "test/f1_macro": 0.01785714365541935, "test/loss": 2.2485196590423584},
    ),
}


def _task_and_data(name: str):
    cfg = compose_config([*DATA, *CASES[name][0]], output_dir="unused")
    checkpoint = load_checkpoint(LEGACY / name)
    dm = instantiate(cfg.data)
    restore_data_state(dm, checkpoint)
    dm.setup("test")
    return cfg, instantiate(cfg.model, **dm.task_kwargs()), dm, checkpoint


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_legacy_checkpoint_evaluates_to_its_recorded_metrics(name: str) -> None:
    """The evaluate/analyze path: check the configuration, map the keys, load strictly."""
    _, task, dm, checkpoint = _task_and_data(name)
    assert "architecture" not in checkpoint["hyper_parameters"]
    assert not any(k.startswith("model.") for k in checkpoint["state_dict"])
    load_weights(task, checkpoint, LEGACY / name)
    metrics = single_process_trainer().test(task, datamodule=dm, verbose=False)[0]
    for key, value in CASES[name][1].items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_lightning_restores_a_legacy_checkpoint(name: str, tmp_path: Path) -> None:
    """The resume path: Lightning reads the file itself (``ckpt_path=``) and calls the task's hook."""
    _, task, dm, _ = _task_and_data(name)
    path = shutil.copy(LEGACY / name, tmp_path / name)
    metrics = single_process_trainer().test(task, datamodule=dm, ckpt_path=str(path), verbose=False)[0]
    assert metrics["test/loss"] == pytest.approx(CASES[name][1]["test/loss"], abs=1e-6)
    untrained = _task_and_data(name)[1]
    first = next(iter(task.model.state_dict().values()))
    assert not torch.equal(first, next(iter(untrained.model.state_dict().values())))


def test_attnbench_eval_of_a_legacy_run_directory(tmp_path: Path) -> None:
    """``attnbench-eval <run dir>`` on a run recorded by the earlier code (its ``run.json`` names
    ``_target_: attnbench.models.TextClassifier`` and no ``data.dedup``; the directory was copied from
    elsewhere, so the recorded checkpoint path is stale) tests it on its own data, as recorded."""
    recorded = json.loads((LEGACY / "text_classifier.run.json").read_text())
    assert recorded["config"]["model"]["_target_"] == "attnbench.models.TextClassifier"
    assert "dedup" not in recorded["config"]["data"]
    run_dir = tmp_path / "old run" / "seed=42"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(recorded))
    shutil.copy(LEGACY / "text_classifier.pt", run_dir / "checkpoints" / Path(recorded["checkpoint"]).name)
    script = Path(sys.executable).parent / "attnbench-eval"
    args = [str(script), str(run_dir), "trainer=cpu", "logger=none", f"hydra.run.dir={tmp_path / 'eval'}"]
    proc = subprocess.run(args, cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval" / "run.json").read_text())["metrics"]
    for key, value in CASES["text_classifier.pt"][1].items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key
