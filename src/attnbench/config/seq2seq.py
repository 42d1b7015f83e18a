"""Structured-config schemas of the sequence-to-sequence task: its data, decoder, decoding and model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attnbench.config.optim import OptimizerConfig, SchedulerConfig


@dataclass
class GenerateConfig:
    """``data.generate`` (``attnbench.data.seq2seq.generated``); null = the task's own default."""

    task: str = "reverse"  # copy | reverse | sort | lookup | numbers | dates
    length: Any = 10  # an int, a list (sizes per length), or with min_length the top of a range
    min_length: int | None = None
    num_train: int = 1000
    num_val: int = 200
    num_test: int = 200
    symbols: int | None = None  # copy, reverse, sort (10), lookup (26): letters used
    queries: int | None = None  # lookup (1)
    languages: list[str] | None = None  # numbers ([en])
    engine: str | None = None  # numbers: num2words | rbnf
    max_digits: int | None = None  # numbers (4)
    locales: list[str] | None = None  # dates ([en, de, fr, es])
    formats: list[str] | None = None  # dates: long | full
    years: list[int] | None = None  # dates ([1900, 2099])


@dataclass
class Seq2SeqDataConfig:
    """``data`` of the seq2seq task (``attnbench.data.seq2seq.datamodule.Seq2SeqDataModule``)."""

    _target_: str = "attnbench.data.seq2seq.datamodule.Seq2SeqDataModule"
    _convert_: str = "all"
    name: str = "s2s_reverse"
    source: str = "generated"  # generated | local_pairs | hub
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    path: str | None = None
    format: str | None = None
    source_column: str = "source"  # hub: a column, or one language of a translation column (translation.en)
    target_column: str = "target"
    split_column: str | None = "split"
    dataset: str | None = None
    subset: str | None = None
    splits: Any = None  # hub: {train: train, val: validation, test: test}; null = carve from train
    tokenizer: str = "char"  # char | word
    lowercase: bool = False
    max_vocab: int = 30000
    min_freq: int = 1
    shared_vocab: bool = False  # one vocabulary for source and target (model.share_embeddings)
    max_length: int = 200  # source tokens; longer pairs are an error unless truncation
    max_target_length: int = 200
    truncation: bool = False
    # copies of a source kept once (groups with different targets dropped), generated val/test sources not in
    # train, evaluation pairs whose source ids equal a training one's removed (docs/data-integrity.md)
    dedup: str = "exact"  # exact | normalized (folds case and whitespace) | none
    reverse_source: bool = False  # Sutskever et al. 2014
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 1234
    batch_size: int = 64
    eval_batch_size: int = 256
    bucket: bool = True
    num_workers: int = 0
    seed: int = 0
    cache_dir: str | None = "${paths.cache_dir}"


@dataclass
class DecoderConfig:
    """``decoder`` (``attnbench.models.decoder.LSTMDecoder``)."""

    style: str = "luong"  # luong (query h_t) | bahdanau (query s_{t−1}, context into the LSTM)
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    input_feeding: bool = False  # luong: h̃_{t−1} joins the LSTM input
    bridge: bool = True  # s_0 = tanh(W · encoder final state), else zeros
    tie_embeddings: bool = False  # output layer = target embedding


@dataclass
class DecodeConfig:
    """``decode``: how evaluation decodes (``attnbench.models.beam``)."""

    beam_size: int = 1  # 1 = greedy
    length_penalty: float = 0.0  # GNMT α
    max_length: int | None = None  # null: the longest training target + 10


@dataclass
class Seq2SeqModelConfig:
    """The seq2seq task (``attnbench.tasks.seq2seq.Seq2SeqTask``)."""

    _target_: str = "attnbench.tasks.seq2seq.Seq2SeqTask"
    _recursive_: bool = False
    encoder: Any = "${encoder}"
    decoder: Any = "${decoder}"
    attention: Any = "${attention}"  # over the encoder states; the query is the decoder state
    decode: Any = "${decode}"
    embedding_dim: int = 128  # source and target embeddings
    embedding_dropout: float = 0.0
    share_embeddings: bool = False  # one embedding for both sides (needs data.shared_vocab=true)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
