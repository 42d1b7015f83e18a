"""LightningDataModule for text classification: source → split → tokenizer → (cache) → bucketed batches."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info
from tokenizers import Tokenizer

from attnbench.config import DataConfig
from attnbench.data.batching import EncodedTexts, collate
from attnbench.data.cache import DataCache, cache_key
from attnbench.data.corpus import SPLITS, DataError, TextCorpus
from attnbench.data.dedup import check_mode, dedup_corpus
from attnbench.data.embeddings import load_vectors
from attnbench.data.filters import checked_filter_settings, drop_long, map_labels, select_labels
from attnbench.data.loaders import BucketedLoaders
from attnbench.data.processed import drop_seen_in_train, encode_split, encoded_texts
from attnbench.data.sources import Columns, SourceSpec, file_fingerprint, load_source
from attnbench.data.splits import assign_splits, check_labels_seen_in_train
from attnbench.data.summary import count_in_train, padding_statistics, split_statistics
from attnbench.data.tokenize import check_tokenizer, fit_tokenizer

log = logging.getLogger(__name__)


class TextClassificationDataModule(BucketedLoaders):
    """Text classification data: one source, its splits (or a stratified seeded split), a tokenizer fit
    on train, an optional on-disk cache of all of that, and length-bucketed batches.

    The settings are the ``data`` config (:class:`attnbench.config.DataConfig` states their defaults;
    :meth:`from_schema` builds one from Python). After :meth:`setup`, ``vocab_size``, ``num_classes``,
    ``label_names``, ``is_pair`` and ``embeddings`` (pretrained vectors [V, D] or None) describe the
    data, ``summary`` the statistics, and ``example_meta[split]`` per-example numbers (the synthetic
    ``length``, aligned with ``TextBatch.index``). The fitted tokenizer and label names are saved in
    checkpoints (``state_dict``), so evaluation of a checkpoint uses exactly the vocabulary it was
    trained with. ``name`` only labels the data config (reports, run records); ``source`` picks the
    loader.
    """

    collate_fn = collate  # the loaders are BucketedLoaders'

    # what setup() (or a checkpoint's state) settles
    tokenizer: Tokenizer | None
    label_names: list[str]
    datasets: dict[str, EncodedTexts]
    split_ids: dict[str, list[str]]
    example_meta: dict[str, dict[str, torch.Tensor]]
    embeddings: torch.Tensor | None
    is_pair: bool
    cache_hit: bool | None  # None: no cache configured
    summary: dict[str, Any]

    def __init__(
        self,
        source: str,
        path: str | None,
        split_seed: int,
        val_fraction: float,
        test_fraction: float,
        tokenizer: str,
        lowercase: bool,
        max_vocab: int,
        min_freq: int,
        max_length: int,
        batch_size: int,
        eval_batch_size: int,
        bucket: bool,
        num_workers: int,
        seed: int,
        name: str | None,
        dataset: str | None,
        subset: str | None,
        format: str | None,
        text_column: str,
        text_pair_column: str | None,
        label_column: str,
        split_column: str | None,
        splits: dict[str, str | None],
        drop_empty: bool,
        truncation_side: str,
        embeddings_path: str | None,
        cache_dir: str | None,
        synthetic: dict[str, Any] | None,
        labels: list[str] | None,
        label_map: dict[str, str | None] | None,
        max_tokens: int | None,
        dedup: str,
    ) -> None:
        super().__init__()
        if max_length < 1:
            raise ValueError(f"data.max_length must be >= 1, got {max_length}")
        self.labels, self.label_map, self.max_tokens = checked_filter_settings(labels, label_map, max_tokens)
        check_tokenizer(tokenizer, truncation_side)
        columns = Columns(text_column, label_column, text_pair_column, split_column, dict(splits))
        synthetic_settings = dict(synthetic) if synthetic else None
        self.dedup = check_mode(dedup)
        self.spec = SourceSpec(source, path, dataset, subset, format, columns, synthetic_settings, split_seed, dedup)
        self.source, self.path, self.name = source, path, name
        self.split_seed, self.val_fraction, self.test_fraction = split_seed, val_fraction, test_fraction
        self.tokenizer_kind, self.lowercase, self.max_vocab, self.min_freq = tokenizer, lowercase, max_vocab, min_freq
        self.max_length, self.truncation_side, self.drop_empty = max_length, truncation_side, drop_empty
        self.embeddings_path, self.cache_dir = embeddings_path, cache_dir
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.bucket, self.num_workers, self.seed = bucket, num_workers, seed
        self.tokenizer, self.label_names, self.embeddings, self.is_pair = None, [], None, False
        self.datasets, self.split_ids, self.example_meta = {}, {}, {}
        self.cache_hit, self.summary = None, {}
        self.built_key: str | None = None  # the processing key setup() used, saved with checkpoints

    @classmethod
    def from_schema(cls, **settings: Any) -> TextClassificationDataModule:
        """The DataModule of the schema's defaults with ``settings`` over them, as Hydra composes
        ``data`` (``splits`` names only the splits that differ): for Python callers such as tests,
        benchmarks and notebooks. The cache is off unless ``cache_dir`` is given (in a run the schema
        points it at ``paths.cache_dir``)."""
        schema = {key: value for key, value in asdict(DataConfig()).items() if not key.startswith("_")}
        schema["cache_dir"] = None
        splits = {**schema["splits"], **settings.pop("splits", {})}
        return cls(**{**schema, **settings, "splits": splits})

    # -- building ---------------------------------------------------------------------------
    def processing_key(self) -> str:
        """The cache key: the source's fingerprint and every setting that changes the processed data
        (not batch sizes, seeds of the batch order, or workers)."""
        restored = self.tokenizer.to_str() if self.tokenizer is not None else None
        return cache_key(
            {
                "source": self.spec.fingerprint(),
                "split_seed": self.split_seed,
                "val_fraction": self.val_fraction,
                "test_fraction": self.test_fraction,
                "tokenizer": self.tokenizer_kind,
                "lowercase": self.lowercase,
                "max_vocab": self.max_vocab,
                "min_freq": self.min_freq,
                "max_length": self.max_length,
                "truncation_side": self.truncation_side,
                "drop_empty": self.drop_empty,
                # row filters (order-sensitive: data.labels orders the classes); the map as sorted pairs
                "labels": self.labels,
                "label_map": sorted(self.label_map.items()) if self.label_map else None,
                "max_tokens": self.max_tokens,
                "dedup": self.dedup,
                "restored_tokenizer": restored and hashlib.sha256(restored.encode()).hexdigest(),
                "restored_labels": self.label_names if restored else None,
                "embeddings": self.embeddings_path and file_fingerprint(self.embeddings_path),
            }
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        started = time.perf_counter()
        self.built_key = self.processing_key()
        if self.cache_dir:
            data, self.cache_hit = DataCache(self.cache_dir).get_or_build(self.built_key, self._process)
        else:
            data = self._process()
        self._adopt(data)
        self.summary = self._summarize(data, time.perf_counter() - started)
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in self.summary.items()}
        rank_zero_info(f"data {self.name or self.source}: {shown}")

    def _process(self) -> dict[str, Any]:
        """Source → checks → splits → tokenizer → token ids (+ pretrained vectors): the cached work."""
        corpus = load_source(self.spec)
        where = self.path or self.spec.dataset or self.source
        corpus, filtered = self._filter(corpus)
        keep, n_empty = self._non_empty(corpus, where)
        keep, dedup_stats = dedup_corpus(corpus, keep, self.dedup)
        split_idx = assign_splits(corpus, keep, self.val_fraction, self.test_fraction, self.split_seed)
        check_labels_seen_in_train(corpus, split_idx, where)
        tokenizer, label_names = self._fit_or_restore_tokenizer(corpus, split_idx["train"])
        splits = {
            name: encode_split(tokenizer, corpus, split_idx[name], self.max_length, self.truncation_side)
            for name in SPLITS
        }
        if self.source == "synthetic":
            check_synthetic_fits(splits, self.max_length, corpus.pairs is not None)
        dedup_stats.update(drop_seen_in_train(splits, self.dedup))
        out: dict[str, Any] = {
            "tokenizer_json": tokenizer.to_str(),
            "label_names": label_names,
            "is_pair": corpus.pairs is not None,
            "stats": {**corpus.stats, **filtered, "empty_dropped": n_empty, **dedup_stats},
            "splits": splits,
        }
        out["embeddings"], out["embedding_coverage"] = None, None
        if self.embeddings_path:
            out["embeddings"], out["embedding_coverage"] = load_vectors(
                self.embeddings_path, tokenizer.get_vocab(), self.lowercase
            )
        return out

    def _filter(self, corpus: TextCorpus) -> tuple[TextCorpus, dict[str, int]]:
        """``data.label_map``, then ``data.labels``, then ``data.max_tokens`` over the whole corpus
        (before splitting); returns the corpus left and the rows each one dropped (for the summary)."""
        dropped: dict[str, int] = {}
        if self.label_map is not None:
            corpus, dropped["label_map_dropped"] = map_labels(corpus, self.label_map)
        if self.labels is not None:
            corpus, dropped["labels_dropped"] = select_labels(corpus, self.labels)
        if self.max_tokens is not None:
            corpus, dropped["max_tokens_dropped"] = drop_long(corpus, self.max_tokens)
            if not corpus.texts:
                raise DataError(f"data.max_tokens={self.max_tokens} drops every document. Fix: raise it or set null.")
        for key, n in dropped.items():
            if n:
                log.info("data.%s: dropped %d row(s)", key.removesuffix("_dropped"), n)
        return corpus, dropped

    def _non_empty(self, corpus: TextCorpus, where: str) -> tuple[np.ndarray, int]:
        """Indices of the examples with text (both texts, for pairs) and the number without: an error
        unless ``data.drop_empty``."""
        texts, pairs = corpus.texts, corpus.pairs
        empty = [i for i, t in enumerate(texts) if not t.strip() or (pairs and not pairs[i].strip())]
        if empty and not self.drop_empty:
            raise DataError(
                f"{where}: {len(empty)} empty or whitespace-only text(s), e.g. {[corpus.ids[i] for i in empty[:5]]}. "
                "Fix: remove them, or set data.drop_empty=true to drop them with a count."
            )
        if empty:
            log.warning("%s: dropped %d empty or whitespace-only text(s)", where, len(empty))
        return np.setdiff1d(np.arange(len(texts)), np.asarray(empty, dtype=np.int64)), len(empty)

    def _fit_or_restore_tokenizer(self, corpus: TextCorpus, train: np.ndarray) -> tuple[Tokenizer, list[str]]:
        """A tokenizer fit on the training texts (``train``: corpus indices), or the one a checkpoint
        restored, which must come with the same label names."""
        if self.tokenizer is None:
            train_texts = [corpus.texts[i] for i in train]
            if corpus.pairs is not None:  # one vocabulary for both texts of a pair
                train_texts += [corpus.pairs[i] for i in train]
            tokenizer = fit_tokenizer(self.tokenizer_kind, train_texts, self.max_vocab, self.min_freq, self.lowercase)
            return tokenizer, list(corpus.label_names)
        if self.label_names != list(corpus.label_names):
            raise ValueError(
                f"checkpoint labels {self.label_names} differ from data.source={self.source!r} labels "
                f"{corpus.label_names}"
            )
        return self.tokenizer, self.label_names

    def _adopt(self, data: dict[str, Any]) -> None:
        self.tokenizer = Tokenizer.from_str(data["tokenizer_json"])
        self.label_names = list(data["label_names"])
        self.is_pair = bool(data["is_pair"])
        self.embeddings = data["embeddings"]
        for name, part in data["splits"].items():
            self.datasets[name] = encoded_texts(part, self.is_pair)
            self.split_ids[name] = list(part["doc_ids"])
            self.example_meta[name] = dict(part["meta"])

    def _summarize(self, data: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Split sizes, class balance, token-length percentiles (before truncation), truncation and
        out-of-vocabulary rates, and the training padding ratio with and without bucketing."""
        summary: dict[str, Any] = {
            "source": self.source,
            "vocab_size": self.vocab_size,
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            "is_pair": self.is_pair,
            "cache": {None: "off", True: "hit", False: "built"}[self.cache_hit],
            "process_s": seconds,
            "dedup": self.dedup,
            **data["stats"],
            **count_in_train(data["splits"]),
        }
        if data["embedding_coverage"] is not None:
            summary["embedding_coverage"] = data["embedding_coverage"]
        for name, part in data["splits"].items():
            summary.update(split_statistics(name, part, self.label_names, self.max_length, self.is_pair))
        summary.update(padding_statistics(self.datasets["train"], self.batch_size, self.seed))
        return summary

    @property
    def vocab_size(self) -> int:
        if self.tokenizer is None:
            raise RuntimeError("call setup() before reading vocab_size")
        return self.tokenizer.get_vocab_size()

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor arguments the data decides besides vocab_size/num_classes (after setup): ``pair``
        for text-pair data (the classifier's head then reads both texts)."""
        return {"pair": True} if self.is_pair else {}

    def task_kwargs(self) -> dict[str, Any]:
        """Every constructor argument the data decides (after setup), for ``instantiate(cfg.model, ...)``."""
        return {"vocab_size": self.vocab_size, "num_classes": self.num_classes, **self.model_kwargs()}

    # -- checkpoint state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.tokenizer is None:
            return {}
        return {
            "tokenizer_json": self.tokenizer.to_str(),
            "label_names": list(self.label_names),
            # what the checkpoint's training data was: attnbench-eval compares it with its own data settings
            "data_config": self.data_identity(),
            "processing_key": self.built_key,
        }

    def data_identity(self) -> dict[str, Any]:
        """The settings that decide which examples exist and which split each falls in (what an
        evaluation must share with training for its test set to be unseen)."""
        return {
            "source": self.source,
            "source_fingerprint": self.spec.fingerprint(),
            "split_seed": self.split_seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "dedup": self.dedup,
            "labels": self.labels,
            "label_map": sorted(self.label_map.items()) if self.label_map else None,
            "max_tokens": self.max_tokens,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.tokenizer = Tokenizer.from_str(state["tokenizer_json"])
            self.label_names = list(state["label_names"])


def check_synthetic_fits(splits: dict[str, dict[str, Any]], max_length: int, is_pair: bool) -> None:
    """A :class:`DataError` when ``data.max_length`` cuts generated sequences: the token that decides
    the label may be cut off, and the task silently becomes another."""
    for name, part in splits.items():
        counts = [part["counts"]] + ([part["pair_counts"]] if is_pair else [])
        cut = sum(int((c > max_length).sum()) for c in counts)
        if cut:
            longest = max(int(c.max()) for c in counts)
            raise DataError(
                f"data.max_length={max_length} cuts {cut} of the {len(part['labels'])} generated {name} "
                f"sequences (the longest has {longest} tokens), so the token that decides the label may be "
                f"lost. Fix: set data.max_length>={longest} (at least the longest data.synthetic.length)."
            )
