"""Structured-config schemas of how a run is executed and recorded: the Lightning Trainer, loggers,
callbacks and paths. None of them changes what a run computes (see ``HASH_EXCLUDED`` in
:mod:`attnbench.config.hashing`), except the trainer's own settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ---- trainer --------------------------------------------------------------------------------


@dataclass
class TrainerConfig:
    """Arguments of ``pytorch_lightning.Trainer`` (add others with ``+trainer.<arg>=...``)."""

    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: Any = "auto"
    num_nodes: int = 1
    precision: Any = "32-true"
    max_epochs: int = 10
    min_epochs: int | None = None
    max_steps: int = -1
    max_time: str | None = None
    gradient_clip_val: float | None = 1.0
    accumulate_grad_batches: int = 1
    deterministic: Any = False
    benchmark: bool | None = None
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int | None = 1
    val_check_interval: Any = None
    num_sanity_val_steps: int = 2
    fast_dev_run: Any = False
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    overfit_batches: Any = 0.0
    use_distributed_sampler: bool = False  # our batch sampler shards by rank itself
    sync_batchnorm: bool = False
    enable_model_summary: bool = True


# ---- loggers & callbacks --------------------------------------------------------------------


@dataclass
class WandbConfig:
    _target_: str = "attnbench.runtime.loggers.wandb_logger"
    project: str = "attnbench"
    entity: str | None = None
    group: str | None = None
    job_type: str = "train"
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: str = "auto"  # auto (online with credentials, else offline) | online | offline | disabled
    save_dir: str = "${paths.output_dir}"
    log_model: bool = False
    init_timeout: float = 60.0  # seconds wandb.init may take online before the run logs offline instead
    finish_timeout: float = 60.0  # seconds run.finish waits for uploads; what is left stays on disk (wandb sync)
    id: str | None = None  # null: the run's id (attempts.json), shared by every attempt of the run


@dataclass
class CSVConfig:
    _target_: str = "attnbench.runtime.loggers.ResumableCSVLogger"
    save_dir: str = "${paths.output_dir}"
    name: str = "csv"
    version: str = ""


@dataclass
class TensorBoardConfig:
    _target_: str = "attnbench.runtime.loggers.ResumableTensorBoardLogger"
    save_dir: str = "${paths.output_dir}"
    name: str = "tensorboard"
    version: str = ""
    default_hp_metric: bool = False


@dataclass
class ModelCheckpointConfig:
    _target_: str = "attnbench.runtime.last_checkpoint.ModelCheckpoint"  # last.ckpt: every epoch
    dirpath: str = "${paths.output_dir}/checkpoints"
    filename: str = "epoch{epoch:03d}-val_acc{val/acc:.4f}"
    monitor: str = "val/acc"
    mode: str = "max"
    save_top_k: int = 1
    save_last: bool = True
    auto_insert_metric_name: bool = False
    verbose: bool = False


@dataclass
class EarlyStoppingConfig:
    _target_: str = "attnbench.runtime.early_stopping.EarlyStopping"  # Lightning's, its state_key computed once
    monitor: str = "val/acc"
    mode: str = "max"
    patience: int = 3
    min_delta: float = 0.0
    verbose: bool = False


@dataclass
class RichProgressBarConfig:
    _target_: str = "attnbench.runtime.callbacks.RichProgressBar"
    leave: bool = False
    min_interval_s: float = 0.1  # training: redraw at most this often (each update costs ms of Python)


@dataclass
class LearningRateMonitorConfig:
    _target_: str = "pytorch_lightning.callbacks.LearningRateMonitor"
    logging_interval: str = "epoch"


@dataclass
class AttentionHeatmapsConfig:
    _target_: str = "attnbench.runtime.callbacks.AttentionHeatmaps"
    num_examples: int = 4
    max_tokens: int = 150
    line_chars: int = 100
    dirname: str = "attention_heatmaps"
    intra_max_tokens: int = 60  # LSTMN memory pictures: tokens per axis (a window around the most read token)


@dataclass
class PlacementConfig:
    """The device pool of local parallel runs (:mod:`attnbench.runtime.placement`, docs/gpu-nodes.md)."""

    devices: Any = None  # null: no pool (the launcher places runs) | all (every visible GPU) | [0,1,3]
    runs_per_device: int = 1  # K: runs that share one device at once
    pool_dir: str | None = None  # the slots' lock files; null: <sweep dir>/.device_pool (single run: <log_dir>)


@dataclass
class AlignmentHeatmapsConfig:
    _target_: str = "attnbench.runtime.alignment_heatmaps.AlignmentHeatmaps"
    num_examples: int = 4
    dirname: str = "attention_heatmaps"


@dataclass
class PathsConfig:
    root_dir: str = "${oc.env:ATTNBENCH_ROOT,.}"
    log_dir: str = "${paths.root_dir}/logs"
    output_dir: str = "${hydra:runtime.output_dir}"
    results_dir: str = "${paths.root_dir}/results"
    cache_dir: str = "${paths.root_dir}/.cache/data"  # processed-data cache (git-ignored)
