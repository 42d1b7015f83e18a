"""Structured-config schemas of what a run computes: data, encoder, attention, pooling, model, and the
top-level keys. Every default is stated here once; a YAML option states only what differs from it, and
the constructors Hydra calls take their defaults from these classes.

Each YAML option extends its schema through its defaults list, e.g. ``conf/encoder/bilstm.yaml``
starts with ``defaults: [/schema/encoder/bilstm@_here_, _self_]``. How a run is executed and recorded
(trainer, loggers, callbacks, paths) is in :mod:`attnbench.config.runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attnbench.config.analysis import MEASUREMENT_SCHEMAS, AnalysisConfig
from attnbench.config.optim import OPTIMIZERS, SCHEDULERS, OptimizerConfig, SchedulerConfig
from attnbench.config.runtime import (
    AlignmentHeatmapsConfig,
    AttentionHeatmapsConfig,
    CSVConfig,
    EarlyStoppingConfig,
    LearningRateMonitorConfig,
    ModelCheckpointConfig,
    PathsConfig,
    PlacementConfig,
    RichProgressBarConfig,
    TensorBoardConfig,
    TrainerConfig,
    WandbConfig,
)
from attnbench.config.seq2seq import DecodeConfig, DecoderConfig, Seq2SeqDataConfig, Seq2SeqModelConfig

# the optimizer settings moved to config.optim; importers of this module still find them here
__all__ = ["OPTIMIZERS", "SCHEDULERS", "SCHEMAS", "OptimizerConfig", "RunConfig", "SchedulerConfig"]

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
    # before splitting, copies of an input (text, text pair) are kept once, groups with disagreeing labels
    # dropped; evaluation examples whose token ids equal a training example's are removed (docs/data-integrity.md)
    dedup: str = "exact"  # exact | normalized (folds case and whitespace) | none
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


@dataclass
class TokenMLPConfig:
    """Wiegreffe & Pinter 2019's non-contextual diagnostic: one tanh layer per token, no context."""

    name: str = "token_mlp"
    hidden_size: int = 128


@dataclass
class GRUConfig:
    """Bidirectional GRU, run the BiLSTM's ways (``attnbench.models.encoders.BiGRUEncoder``)."""

    name: str = "gru"
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    implementation: str = "auto"  # auto | packed | reverse


@dataclass
class LSTMNConfig:
    """Cheng et al. 2016's LSTMN, intra-attention inside the recurrence (``attnbench.models.lstmn``)."""

    name: str = "lstmn"
    hidden_size: int = 128  # per direction
    num_layers: int = 1
    bidirectional: bool = True  # the backward direction reads each sequence reversed within its length
    attention_size: int | None = None  # A of the additive score; null: hidden_size (the paper)
    dropout: float = 0.0  # between layers


@dataclass
class TransformerConfig:
    """Pre-LayerNorm ``nn.TransformerEncoder`` with a padding mask (``attnbench.models.transformer``)."""

    name: str = "transformer"
    hidden_size: int = 128  # d_model (the input embeddings are projected to it when they differ)
    num_layers: int = 2
    num_heads: int = 4
    ff_size: int = 256
    dropout: float = 0.1
    positions: str = "sinusoidal"  # sinusoidal | learned
    max_positions: int = "${data.max_length}"  # type: ignore[assignment]  # positions=learned: table size


# ---- attention / pooling ------------------------------------------------------------------


@dataclass
class NoAttentionConfig:
    name: str = "none"


@dataclass
class AttentionConfig:
    """One point of score × alignment × query (``attnbench.models.pooling.AttentionPooling``)."""

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
    chunk_size: str = "auto"  # additive / concat tanh layer in query blocks: auto (memory budget) | direct | N
    frozen: str | None = None  # uniform: weights fixed to uniform over valid tokens, no attention parameters


@dataclass
class MultiHeadConfig:
    """Scaled dot over heads with SDPA (``attnbench.models.pooling.MultiHeadAttentionPooling``)."""

    name: str = "multihead"
    heads: int = 4
    hidden_size: int = 128  # projection size, split over the heads
    query: str = "learned"  # learned | last | self
    hops: int = 1
    need_weights: bool = True
    average_attn_weights: bool = True  # False: one weight row per head
    dropout: float = 0.0
    frozen: str | None = None  # uniform: weights fixed to uniform over valid tokens, no attention parameters


@dataclass
class PoolingConfig:
    mode: str = "last"


# ---- model ----------------------------------------------------------------------------------


# Classification: one task (``ClassificationTask``) wraps the ``nn.Module`` that ``architecture`` names.
CLASSIFICATION_TASK = "attnbench.tasks.classification.ClassificationTask"


@dataclass
class ModelConfig:
    _target_: str = CLASSIFICATION_TASK
    _recursive_: bool = False
    architecture: str = "attnbench.models.TextClassifier"  # the nn.Module the task wraps
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
    """The original Keras ``Attention`` example (``attnbench.models.KerasConv1DAttention``)."""

    _target_: str = CLASSIFICATION_TASK
    _recursive_: bool = False
    architecture: str = "attnbench.models.KerasConv1DAttention"  # the nn.Module the task wraps
    embedding_dim: int = 64
    filters: int = 100
    kernel_size: int = 4
    activation: str = "linear"
    use_scale: bool = False
    score_mode: str = "dot"
    dropout: float = 0.0
    # Keras Adam's learning rate, no weight decay
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3, weight_decay=0.0))
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class TfidfLogRegConfig:
    """A classical baseline: TF-IDF + logistic regression (``attnbench.models.tfidf.TfidfLogReg``)."""

    _target_: str = "attnbench.models.tfidf.TfidfLogReg"
    ngram_range: list[int] = field(default_factory=lambda: [1, 2])
    min_df: int = 1
    max_features: int | None = None
    sublinear_tf: bool = True
    C: float = 1.0
    max_iter: int = 1000
    class_weight: str | None = None  # null | balanced
    solver: str = "lbfgs"


# ---- top level ------------------------------------------------------------------------------


@dataclass
class RunConfig:
    """Top-level keys. Groups are typed ``Any`` here; their own schemas check them."""

    data: Any = None
    encoder: Any = None
    attention: Any = None
    pooling: Any = None
    model: Any = None
    decoder: Any = None  # seq2seq only
    decode: Any = None  # seq2seq only
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
    # CPU: flush subnormal floats to zero (torch.set_flush_denormal): the same weights, 4-10x faster
    # recurrent backward passes where gradients fade below 1.2e-38 (docs/performance.md#subnormal-floats)
    flush_denormal: bool = True
    skip_completed: bool = False  # a run directory whose run.json completed with this config hash: skip
    # a run directory another live process is training (its lock): fail (at once, naming that process) | wait
    on_locked: str = "fail"
    allow_nonfinite_loss: bool = False  # keep training through a NaN/inf training loss (else: the run fails)
    analysis: AnalysisConfig | None = None  # analysis=[kendall,...]: analyses after training (attnbench.analysis)
    examples: int | None = None  # attnbench-analyze: N highlighted test examples (analysis/examples.html); null: none
    study: Any = None  # set by `attnbench-study`: {name, variant, label, run_name} (reports, W&B group)
    placement: PlacementConfig = field(default_factory=PlacementConfig)  # the device pool (off by default)


# group → option name → schema; stored as ``schema/<group>/<name>`` (:func:`attnbench.config.store.register_configs`)
SCHEMAS: dict[str, dict[str, type]] = {
    "data": {"text": DataConfig, "seq2seq": Seq2SeqDataConfig},
    "decoder": {"lstm": DecoderConfig},
    "decode": {"decode": DecodeConfig},
    "encoder": {
        "bilstm": BiLSTMConfig,
        "conv1d": Conv1DConfig,
        "token_mlp": TokenMLPConfig,
        "gru": GRUConfig,
        "lstmn": LSTMNConfig,
        "transformer": TransformerConfig,
    },
    "attention": {"none": NoAttentionConfig, "attention": AttentionConfig, "multihead": MultiHeadConfig},
    "pooling": {"pooling": PoolingConfig},
    "model": {
        "classifier": ModelConfig,
        "keras_conv1d": KerasConv1DModelConfig,
        "tfidf_logreg": TfidfLogRegConfig,
        "seq2seq": Seq2SeqModelConfig,
    },
    "trainer": {"trainer": TrainerConfig},
    "logger": {"wandb": WandbConfig, "csv": CSVConfig, "tensorboard": TensorBoardConfig},
    "callbacks": {
        "model_checkpoint": ModelCheckpointConfig,
        "early_stopping": EarlyStoppingConfig,
        "rich_progress_bar": RichProgressBarConfig,
        "lr_monitor": LearningRateMonitorConfig,
        "attention_heatmaps": AttentionHeatmapsConfig,
        "alignment_heatmaps": AlignmentHeatmapsConfig,
    },
    "paths": {"paths": PathsConfig},
    "analysis": MEASUREMENT_SCHEMAS,
}
