"""``last.ckpt`` holds every epoch's end state (also after an epoch that did not improve the monitored
metric, where Lightning's ``save_last=True`` leaves an older one) and costs no second write when the
best checkpoint was just written (it is a hard link to it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from attnbench.config import config_hash
from attnbench.train import run

from .helpers import assert_completed

QUICK = ["debug=limit", "trainer.max_epochs=3", "logger=none", "callbacks.rich_progress_bar=null", "test=false"]


def epoch_of(path: Path) -> tuple[int, int]:
    checkpoint = torch.load(path, weights_only=True)
    return checkpoint["epoch"], checkpoint["global_step"]


def test_last_checkpoint_is_the_last_epoch_when_the_metric_stalls(make_cfg: Callable[..., DictConfig]) -> None:
    # lr=0: val/acc never changes, so only the first epoch's checkpoint is a best one
    record = run(make_cfg(*QUICK, "model.optimizer.lr=0.0", "callbacks.early_stopping=null"))
    assert_completed(record, metrics=("val/acc",))
    checkpoints = Path(record["run_dir"]) / "checkpoints"
    best = Path(record["checkpoint"])
    assert epoch_of(best) == (0, 4)
    assert epoch_of(checkpoints / "last.ckpt") == (2, 12)  # Lightning's own save_last left (0, 4) here
    assert os.stat(best).st_ino != os.stat(checkpoints / "last.ckpt").st_ino


def test_last_checkpoint_links_the_best_one_written_at_the_same_step(make_cfg: Callable[..., DictConfig]) -> None:
    record = run(make_cfg(*QUICK, "trainer.max_epochs=1"))  # one epoch: its checkpoint is the best
    assert_completed(record, metrics=("val/acc",))
    best, last = Path(record["checkpoint"]), Path(record["run_dir"]) / "checkpoints" / "last.ckpt"
    assert epoch_of(last) == epoch_of(best) == (0, 4)
    assert not last.is_symlink() and os.stat(last).st_ino == os.stat(best).st_ino  # one file, two names


def test_runs_recorded_before_keep_their_config_hash(make_cfg: Callable[..., DictConfig]) -> None:
    """The callbacks' new classes, and the device pool, change nothing a run computes: a study's runs
    recorded with Lightning's own classes and without a pool still count as done."""
    cfg = make_cfg()
    earlier = make_cfg("placement.devices=[0,1]", "placement.runs_per_device=4")
    with open_dict(earlier):
        earlier.callbacks.model_checkpoint._target_ = "pytorch_lightning.callbacks.ModelCheckpoint"
        earlier.callbacks.early_stopping._target_ = "pytorch_lightning.callbacks.EarlyStopping"
        del earlier.placement
    assert config_hash(cfg) == config_hash(earlier)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None and "_target_" in c]
    # the keys under which checkpoints keep the callbacks' states are Lightning's: old checkpoints resume
    keys = {type(c).__name__: c.state_key for c in callbacks}
    assert keys["EarlyStopping"] == "EarlyStopping{'monitor': 'val/acc', 'mode': 'max'}"
    assert keys["ModelCheckpoint"] == (
        "ModelCheckpoint{'monitor': 'val/acc', 'mode': 'max', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
        "'train_time_interval': None}"
    )
