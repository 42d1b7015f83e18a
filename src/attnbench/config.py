"""Structured-config schemas: every leaf config is checked at compose time, so a mistyped key fails
before training starts, with the key's name in the message.

Each YAML option extends its schema through its defaults list, e.g. ``conf/encoder/bilstm.yaml``
starts with ``defaults: [/schema/encoder/bilstm@_here_, _self_]``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

# ---- data -----------------------------------------------------------------------------------


@dataclass
class SplitNamesConfig:
    """How the source names each split; ``null``: the source has none, carve it from train."""

    train: str = "train"
    val: str | None = "validation"
    test: str | None = "test"


@dataclass
class SyntheticConfig:
    """``data.source=synthetic`` settings (see ``attnbench.data.synthetic``); sizes are per length. The
    one statement of their defaults: the generator completes a partial dict from this class."""

    task: str = "needle"  # needle | recall | pair_match | pair_recall
    length: Any = 128  # an int, or a list of ints: one study over several sequence lengths
    num_train: int = 1000
    num_val: int = 200
    num_test: int = 200
    num_classes: int = 10  # needle, recall, pair_recall: number of value tokens (classes)
    noise_vocab: int = 100  # needle, pair_match: distinct noise tokens
    position: str = "uniform"  # needle: uniform | middle | start | end
    num_keys: int = 512  # recall, pair_recall: distinct keys, >= the pairs of the longest length (about L / 2)
    query_length: int = 4  # pair_match


@dataclass
class DataConfig:
    """``data``: the one statement of the DataModule's defaults (they are the BBC News settings);
    ``conf/data/*.yaml`` state only what differs."""

    _target_: str = "attnbench.data.TextClassificationDataModule"
    _convert_: str = "all"  # nested settings (splits, synthetic) reach the DataModule as plain dicts
    name: str = "bbc_news"
    source: str = "bbc_news"  # bbc_news | local | hub | 20newsgroups | synthetic
    path: str | None = None  # local: file or folder; hub/20newsgroups: a local copy
    dataset: str | None = None  # hub: dataset name, e.g. stanfordnlp/imdb
    subset: str | None = None  # hub: configuration, e.g. mrpc of nyu-mll/glue
    format: str | None = None  # local: csv | tsv | jsonl | parquet (default: from the file suffix)
    text_column: str = "text"
    text_pair_column: str | None = None  # text-pair data: the second text
    label_column: str = "label"
    split_column: str | None = "split"  # local: used when the file has this column
    splits: SplitNamesConfig = field(default_factory=SplitNamesConfig)
    drop_empty: bool = True  # drop empty/whitespace-only texts with a count (false: error)
    split_seed: int = 1234  # fixes the split (and synthetic data), independent of the training seed
    # of the whole corpus for a source without splits (80/10/10); else of its train split, carved from it
    # when the source lacks that split (stratified, split_seed)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    tokenizer: str = "word"  # word (words and punctuation) | bpe
    lowercase: bool = True
    max_vocab: int = 30000
    min_freq: int = 2  # rarer training words become <unk>
    max_length: int = 400  # tokens kept per text; synthetic data: at least the longest length
    truncation_side: str = "right"  # right: keep the first max_length tokens; left: the last
    embeddings_path: str | None = None  # a GloVe/word2vec text file; sets the embedding weights
    cache_dir: str | None = "${paths.cache_dir}"  # null: no cache
    synthetic: SyntheticConfig | None = None
    # row filters, applied before splitting (counts in the data summary):
    labels: list[str] | None = None  # keep only these labels; class ids follow this order
    # {source label: new label (merge/rename) or null (drop its rows)}; Any, not dict[str, str | None] | None:
    # OmegaConf cannot merge a command-line dict into a typed dict node that is None (the DataModule checks it)
    label_map: Any = None
    max_tokens: int | None = None  # drop documents of >= this many word tokens (before truncation)
    batch_size: int = 32
    eval_batch_size: int = 128
    bucket: bool = True  # length-bucketed batches (false: random batches)
    num_workers: int = 0
    seed: int = 0


# ---- encoders -------------------------------------------------------------------------------


@dataclass
class BiLSTMConfig:
    name: str = "bilstm"
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    implementation: str = "auto"  # auto | packed | reverse


@dataclass
class Conv1DConfig:
    name: str = "conv1d"
    filters: int = 128
    kernel_size: int = 5
    num_layers: int = 1
    activation: str = "relu"
    dropout: float = 0.0


# ---- aggregators ----------------------------------------------------------------------------


@dataclass
class NoAttentionConfig:
    name: str = "none"


@dataclass
class AttentionConfig:
    """One point of score × alignment × query (``attnbench.models.aggregators.AttentionPooling``)."""

    name: str = "attention"
    score: str = "additive"  # additive | dot | scaled_dot | general | cosine | location
    alignment: str = "soft"  # soft | local_m | local_p | hard
    query: str = "learned"  # learned | last | self
    hidden_size: int = 128
    hops: int = 1  # learned queries; > 1 with penalty > 0 is Lin et al. 2017
    penalty: float = 0.0  # weight of ‖AAᵀ − I‖²_F (query=learned)
    use_scale: bool = False  # Keras: a learned scalar on the scores (dot, scaled_dot, general, cosine)
    score_mode: str = "dot"  # Keras: dot | concat (score=dot only)
    window: int = 10  # local_m / local_p half-width D (local_p: σ = D/2)
    hard_estimator: str = "gumbel"  # hard alignment in training: gumbel | reinforce
    temperature: float = 1.0  # Gumbel-softmax τ
    max_positions: int = "${data.max_length}"  # type: ignore[assignment]  # score=location: positions it scores


@dataclass
class MultiHeadConfig:
    """Scaled dot over heads with SDPA (``attnbench.models.aggregators.MultiHeadAttentionPooling``)."""

    name: str = "multihead"
    heads: int = 4
    hidden_size: int = 128  # projection size, split over the heads
    query: str = "learned"  # learned | last | self
    hops: int = 1
    need_weights: bool = True
    average_attn_weights: bool = True  # False: one weight row per head
    dropout: float = 0.0


@dataclass
class PoolingConfig:
    mode: str = "last"


# ---- model ----------------------------------------------------------------------------------


@dataclass
class OptimizerConfig:
    name: str = "adamw"  # adamw (decoupled weight decay) | adam (L2 weight decay added to the gradient)
    lr: float = 2e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    amsgrad: bool = False


@dataclass
class SchedulerConfig:
    name: str = "none"  # none | cosine | plateau
    warmup_fraction: float = 0.0
    factor: float = 0.5
    patience: int = 1


@dataclass
class ModelConfig:
    _target_: str = "attnbench.models.TextClassifier"
    _recursive_: bool = False
    embedding_dim: int = 128
    embedding_dropout: float = 0.0
    dropout: float = 0.3
    encoder: Any = "${encoder}"
    attention: Any = "${attention}"
    pooling: Any = "${pooling}"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    freeze_embeddings: bool = False  # keep pretrained vectors (data.embeddings_path) fixed


@dataclass
class KerasConv1DModelConfig:
    """The seed's Keras ``Attention`` example (``attnbench.models.KerasConv1DAttention``)."""

    _target_: str = "attnbench.models.KerasConv1DAttention"
    embedding_dim: int = 64
    filters: int = 100
    kernel_size: int = 4
    activation: str = "linear"
    use_scale: bool = False
    score_mode: str = "dot"
    dropout: float = 0.0
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class TfidfLogRegConfig:
    """A classical baseline: TF-IDF + logistic regression (``attnbench.baselines.TfidfLogReg``)."""

    _target_: str = "attnbench.baselines.TfidfLogReg"
    ngram_range: list[int] = field(default_factory=lambda: [1, 2])
    min_df: int = 1
    max_features: int | None = None
    sublinear_tf: bool = True
    C: float = 1.0
    max_iter: int = 1000
    class_weight: str | None = None  # null | balanced
    solver: str = "lbfgs"


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
    _target_: str = "attnbench.loggers.wandb_logger"
    project: str = "attnbench"
    entity: str | None = None
    group: str | None = None
    job_type: str = "train"
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: str = "auto"  # auto (online with credentials, else offline) | online | offline | disabled
    save_dir: str = "${paths.output_dir}"
    log_model: bool = False
    init_timeout: float = 60.0


@dataclass
class CSVConfig:
    _target_: str = "pytorch_lightning.loggers.CSVLogger"
    save_dir: str = "${paths.output_dir}"
    name: str = "csv"
    version: str = ""


@dataclass
class TensorBoardConfig:
    _target_: str = "pytorch_lightning.loggers.TensorBoardLogger"
    save_dir: str = "${paths.output_dir}"
    name: str = "tensorboard"
    version: str = ""
    default_hp_metric: bool = False


@dataclass
class ModelCheckpointConfig:
    _target_: str = "pytorch_lightning.callbacks.ModelCheckpoint"
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
    _target_: str = "pytorch_lightning.callbacks.EarlyStopping"
    monitor: str = "val/acc"
    mode: str = "max"
    patience: int = 3
    min_delta: float = 0.0
    verbose: bool = False


@dataclass
class RichProgressBarConfig:
    _target_: str = "pytorch_lightning.callbacks.RichProgressBar"
    leave: bool = False


@dataclass
class LearningRateMonitorConfig:
    _target_: str = "pytorch_lightning.callbacks.LearningRateMonitor"
    logging_interval: str = "epoch"


@dataclass
class AttentionHeatmapsConfig:
    _target_: str = "attnbench.callbacks.AttentionHeatmaps"
    num_examples: int = 4
    max_tokens: int = 150
    line_chars: int = 100
    dirname: str = "attention_heatmaps"


@dataclass
class PathsConfig:
    root_dir: str = "${oc.env:ATTNBENCH_ROOT,.}"
    log_dir: str = "${paths.root_dir}/logs"
    output_dir: str = "${hydra:runtime.output_dir}"
    results_dir: str = "${paths.root_dir}/results"
    cache_dir: str = "${paths.root_dir}/.cache/data"  # processed-data cache (git-ignored)


# ---- top level ------------------------------------------------------------------------------


@dataclass
class RunConfig:
    """Top-level keys. Groups are typed ``Any`` here; their own schemas check them."""

    data: Any = None
    encoder: Any = None
    attention: Any = None
    pooling: Any = None
    model: Any = None
    trainer: Any = None
    logger: Any = field(default_factory=dict)
    callbacks: Any = field(default_factory=dict)
    paths: Any = None
    experiment: Any = None
    debug: Any = None
    seed: int = 42
    tags: list[str] = field(default_factory=list)
    task_name: str = "train"
    train: bool = True
    test: bool = True
    ckpt_path: str | None = None  # train: resume from it; eval: the checkpoint to evaluate
    resume: bool = True  # train: start from <checkpoint dir>/last.ckpt when the run directory has one
    torch_threads: int | None = None
    skip_completed: bool = False  # a run directory whose run.json completed with this config hash: skip
    study: Any = None  # set by `attnbench-study`: {name, variant, label, run_name} (reports, W&B group)


# Keys that do not change what a run computes: left out of the config hash (``config_hash``), so a
# study re-run on another machine, with other paths, loggers, thread counts or labels, still matches.
HASH_EXCLUDED = (
    "paths", "logger", "hydra", "torch_threads", "skip_completed", "study", "resume", "tags", "task_name",
    "data.cache_dir", "data.num_workers", "callbacks.model_checkpoint.dirpath", "callbacks.rich_progress_bar",
    "callbacks.lr_monitor", "callbacks.attention_heatmaps", "trainer.enable_model_summary",
)


# Settings added after runs were recorded, at the value that reproduces those runs: left out of the hash
# like unset (null) settings, so adding an option to the code keeps earlier study runs valid.
HASH_DEFAULTS = {"model.optimizer.name": "adamw"}


def _drop_unset(node: Any, prefix: str = "") -> Any:
    if isinstance(node, dict):
        return {k: _drop_unset(v, f"{prefix}{k}.") for k, v in node.items()
                if v is not None and HASH_DEFAULTS.get(f"{prefix}{k}", object()) != v}
    return node


def config_hash(cfg: DictConfig | dict[str, Any]) -> str:
    """sha256 (16 hex digits) of the resolved configuration without :data:`HASH_EXCLUDED` keys, unset
    (null) settings and :data:`HASH_DEFAULTS`: two runs with the same hash compute the same thing. Works
    on a composed config outside a Hydra run and on the resolved ``config`` of a ``run.json``."""
    import hashlib
    import json

    node = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg)
    # gone before resolving: they may interpolate Hydra's runtime (the W&B run name, the study's job name)
    for key in ("hydra", "logger", "study"):
        node.pop(key, None)
    if isinstance(node.get("paths"), DictConfig):  # ${hydra:runtime.output_dir} outside a Hydra run
        node.paths.output_dir = "<output_dir>"
    resolved = OmegaConf.to_container(node, resolve=True)
    for dotted in HASH_EXCLUDED:
        *parents, leaf = dotted.split(".")
        parent = resolved
        for p in parents:
            parent = parent.get(p) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(leaf, None)
    resolved = _drop_unset(resolved)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]


SCHEMAS: dict[str, dict[str, type]] = {
    "data": {"text": DataConfig},
    "encoder": {"bilstm": BiLSTMConfig, "conv1d": Conv1DConfig},
    "attention": {"none": NoAttentionConfig, "attention": AttentionConfig, "multihead": MultiHeadConfig},
    "pooling": {"pooling": PoolingConfig},
    "model": {"classifier": ModelConfig, "keras_conv1d": KerasConv1DModelConfig, "tfidf_logreg": TfidfLogRegConfig},
    "trainer": {"trainer": TrainerConfig},
    "logger": {"wandb": WandbConfig, "csv": CSVConfig, "tensorboard": TensorBoardConfig},
    "callbacks": {
        "model_checkpoint": ModelCheckpointConfig,
        "early_stopping": EarlyStoppingConfig,
        "rich_progress_bar": RichProgressBarConfig,
        "lr_monitor": LearningRateMonitorConfig,
        "attention_heatmaps": AttentionHeatmapsConfig,
    },
    "paths": {"paths": PathsConfig},
}


def register_configs() -> None:
    """Store the schemas under ``schema/<group>/<name>`` and the top level as ``run_schema``."""
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


def config_dir() -> Path:
    """The ``conf/`` tree: inside the installed package (wheel) or at the repository root (editable)."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


class ConfigKeyError(ValueError):
    """A key that no schema or target accepts (typically added with ``+key=value``)."""


def _option_schema(group: str, node: DictConfig) -> type | None:
    options = SCHEMAS.get(group, {})
    if group == "encoder":
        return options.get(node.get("name"))
    if group == "attention":
        return options.get(node.get("name"), options["attention"])
    if group == "model":  # by target; an unknown target is checked by instantiation
        return next((o for o in options.values() if o._target_ == node.get("_target_")), None)
    if group in ("data", "pooling", "paths"):
        return next(iter(options.values()))
    return None


def _check_target_keys(path: str, node: DictConfig) -> None:
    """Every key of a ``_target_`` node must be a parameter of the target (unless it takes ``**kwargs``)."""
    target = get_object(node._target_)
    params = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in node:
        if not str(key).startswith("_") and key not in params:
            raise ConfigKeyError(
                f"config key '{path}.{key}' is not an argument of {node._target_}; "
                f"accepted: {', '.join(k for k in params if k != 'self')}"
            )


def validate(cfg: DictConfig) -> None:
    """Check keys that Hydra lets through (``+key=value`` opens the schemas) before anything runs.

    Raises :class:`ConfigKeyError` naming the unknown key and what is accepted there.
    """
    allowed = {f.name for f in fields(RunConfig)} | {"hydra"}
    for key in cfg:
        if key not in allowed:
            raise ConfigKeyError(f"unknown top-level config key '{key}'; accepted: {', '.join(sorted(allowed))}")
    for group in ("data", "encoder", "attention", "pooling", "model", "paths"):
        node = cfg.get(group)
        schema = _option_schema(group, node) if isinstance(node, DictConfig) else None
        if schema is None:
            continue
        try:
            OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.to_container(node, resolve=False))
        except OmegaConfBaseException as err:
            key = getattr(err, "full_key", None) or getattr(err, "key", None) or "?"
            raise ConfigKeyError(
                f"config key '{group}.{key}' is not valid for {schema.__name__}: {str(err).splitlines()[0]}. "
                f"Accepted keys: {', '.join(f.name for f in fields(schema))}"
            ) from None
    model = cfg.get("model")
    optimizer = model.get("optimizer") if isinstance(model, DictConfig) else None
    if isinstance(optimizer, DictConfig) and optimizer.get("name") is not None:
        from attnbench.models.task import OPTIMIZERS

        if optimizer.name not in OPTIMIZERS:
            raise ConfigKeyError(f"model.optimizer.name={optimizer.name!r} is unknown; use one of {sorted(OPTIMIZERS)}")
    import pytorch_lightning as pl

    trainer = cfg.get("trainer")
    if isinstance(trainer, DictConfig):
        params = inspect.signature(pl.Trainer.__init__).parameters
        for key in trainer:
            if key not in params:
                raise ConfigKeyError(f"config key 'trainer.{key}' is not a pytorch_lightning.Trainer argument")
    for group in ("logger", "callbacks"):
        for name, node in (cfg.get(group) or {}).items():
            if isinstance(node, DictConfig) and "_target_" in node:
                _check_target_keys(f"{group}.{name}", node)
