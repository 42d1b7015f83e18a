"""LightningDataModule for text classification: source → split → tokenizer → (cache) → bucketed batches."""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from sklearn.model_selection import train_test_split
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from attnbench.data.batching import BucketBySequenceLength, EncodedTexts, collate, padding_ratio
from attnbench.data.cache import DataCache, cache_key
from attnbench.data.embeddings import load_vectors
from attnbench.data.filters import drop_long, map_labels, select_labels
from attnbench.data.sources import (
    SOURCES,
    SPLITS,
    Columns,
    DataError,
    SourceSpec,
    TextCorpus,
    file_fingerprint,
    load_source,
)
from attnbench.data.tokenize import TOKENIZERS, TRUNCATION_SIDES, UNK_ID, encode, fit_tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Indices into the corpus for each split (disjoint, together all documents)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_split(labels: list[int], val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Stratified train/val/test indices, fixed by ``seed`` (independent of the training seed)."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in (0, 1) "
            "and sum to less than 1"
        )
    idx = np.arange(len(labels))
    y = np.asarray(labels)
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), stratify=y[rest], random_state=seed
    )
    return Splits(np.sort(train), np.sort(val), np.sort(test))


def _carve(pool: np.ndarray, labels: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, ...]:
    """Split ``pool`` (corpus indices) into (rest, carved) with ``fraction`` carved, stratified."""
    try:
        rest, carved = train_test_split(pool, test_size=fraction, stratify=labels[pool], random_state=seed)
    except ValueError as err:
        raise DataError(
            f"cannot carve a stratified {what} split ({fraction:.0%}) from {len(pool)} examples: {err} "
            f"Fix: provide a {what} split (a file or split column), add examples, or change data.{what}_fraction."
        ) from None
    return np.sort(rest), np.sort(carved)


def assign_splits(corpus: TextCorpus, keep: np.ndarray, val_fraction: float, test_fraction: float,
                  seed: int) -> dict[str, np.ndarray]:
    """Corpus indices (among ``keep``) of each split: the source's own splits where it has them, the
    missing ones carved from train (stratified, seeded; fractions of the training split); a source
    without splits is split stratified 80/10/10 (by default) as a whole."""
    labels = np.asarray(corpus.labels)
    if corpus.split is None:
        try:
            s = stratified_split(labels[keep].tolist(), val_fraction, test_fraction, seed)
        except ValueError as err:
            if "data.val_fraction" in str(err):
                raise
            raise DataError(
                f"cannot split {len(keep)} examples stratified into train/val/test: {err} "
                "Fix: add examples of the rare classes, or provide the splits (a split column or one file per split)."
            ) from None
        return {"train": keep[s.train], "val": keep[s.val], "test": keep[s.test]}
    names = np.asarray(corpus.split)[keep]
    out = {name: keep[names == name] for name in SPLITS}
    provided = set(corpus.split)
    for name in SPLITS:
        if name in provided and len(out[name]) == 0:
            raise DataError(f"the {name} split is empty after dropping empty texts (and rows that data.labels, "
                            f"data.label_map or data.max_tokens remove). Fix: check the {name} data.")
    if len(out["train"]) == 0:
        raise DataError("the source has no training examples. Fix: provide a train split (data.splits.train).")
    if "test" not in provided:
        out["train"], out["test"] = _carve(out["train"], labels, test_fraction, seed, "test")
    if "val" not in provided:
        out["train"], out["val"] = _carve(out["train"], labels, val_fraction, seed, "val")
    return out


def _flat(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of many sequences as one int32 tensor plus lengths (compact in the cache)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    flat = torch.from_numpy(np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int32, count=int(lengths.sum())))
    return flat, lengths


def _unflat(flat: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.split(flat.long(), lengths.tolist()))


def _percentiles(counts: torch.Tensor, prefix: str) -> dict[str, float]:
    values = counts.numpy()
    out = {f"{prefix}len_p{q}": float(np.percentile(values, q)) for q in (50, 90, 95, 99)}
    out[f"{prefix}len_max"] = float(values.max())
    return out


class TextClassificationDataModule(pl.LightningDataModule):
    """Text classification data: one source, its splits (or a stratified seeded split), a tokenizer fit
    on train, an optional on-disk cache of all of that, and length-bucketed batches.

    After :meth:`setup`, ``vocab_size``, ``num_classes``, ``label_names``, ``is_pair`` and
    ``embeddings`` (pretrained vectors [V, D] or None) describe the data, ``summary`` the statistics,
    and ``example_meta[split]`` per-example numbers (the synthetic ``length``, aligned with
    ``TextBatch.index``). The fitted tokenizer and label names are saved in checkpoints
    (``state_dict``), so evaluation of a checkpoint uses exactly the vocabulary it was trained with.
    ``name`` only labels the data config (reports, run records); ``source`` picks the loader.
    """

    def __init__(
        self,
        source: str = "bbc_news",
        path: str | None = None,
        split_seed: int = 1234,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        tokenizer: str = "word",
        lowercase: bool = True,
        max_vocab: int = 30000,
        min_freq: int = 2,
        max_length: int = 400,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        bucket: bool = True,
        num_workers: int = 0,
        seed: int = 0,
        name: str | None = None,
        dataset: str | None = None,
        subset: str | None = None,
        format: str | None = None,
        text_column: str = "text",
        text_pair_column: str | None = None,
        label_column: str = "label",
        split_column: str | None = "split",
        splits: dict[str, str | None] | None = None,
        drop_empty: bool = True,
        truncation_side: str = "right",
        embeddings_path: str | None = None,
        cache_dir: str | None = None,
        synthetic: dict[str, Any] | None = None,
        labels: list[str] | None = None,
        label_map: dict[str, str | None] | None = None,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__()
        if max_length < 1:
            raise ValueError(f"data.max_length must be >= 1, got {max_length}")
        if max_tokens is not None and (isinstance(max_tokens, bool) or int(max_tokens) != max_tokens
                                       or max_tokens < 1):
            raise ValueError(f"data.max_tokens must be a positive integer or null, got {max_tokens!r}")
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, list | tuple)):
            raise ValueError(f"data.labels must be a list of label names or null, got {labels!r}")
        if label_map is not None and not isinstance(label_map, dict):
            raise ValueError(f"data.label_map must be a mapping {{source label: new label or null}}, got {label_map!r}")
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"data.tokenizer={tokenizer!r} is not available; use one of {list(TOKENIZERS)}")
        if truncation_side not in TRUNCATION_SIDES:
            raise ValueError(f"data.truncation_side={truncation_side!r}; use one of {list(TRUNCATION_SIDES)}")
        if source not in SOURCES:
            raise ValueError(f"data.source={source!r} is unknown; available: {list(SOURCES)}")
        split_names = {"train": "train", "val": "validation", "test": "test", **dict(splits or {})}
        unknown = sorted(set(split_names) - set(SPLITS))
        if unknown:
            raise ValueError(f"data.splits.{unknown[0]} is not a split; use train, val, test")
        self.spec = SourceSpec(
            source=source, path=path, dataset=dataset, subset=subset, format=format,
            columns=Columns(text_column, label_column, text_pair_column, split_column, split_names),
            synthetic=dict(synthetic) if synthetic else None, seed=split_seed,
        )
        self.source, self.path, self.name = source, path, name
        self.split_seed, self.val_fraction, self.test_fraction = split_seed, val_fraction, test_fraction
        self.tokenizer_kind, self.lowercase, self.max_vocab, self.min_freq = tokenizer, lowercase, max_vocab, min_freq
        self.max_length, self.truncation_side, self.drop_empty = max_length, truncation_side, drop_empty
        self.embeddings_path, self.cache_dir = embeddings_path, cache_dir
        self.labels = [str(name) for name in labels] if labels is not None else None
        self.label_map = (
            {str(k): (None if v is None else str(v)) for k, v in label_map.items()} if label_map is not None else None
        )
        self.max_tokens = int(max_tokens) if max_tokens is not None else None
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.bucket, self.num_workers, self.seed = bucket, num_workers, seed
        self.tokenizer: Tokenizer | None = None
        self.label_names: list[str] = []
        self.datasets: dict[str, EncodedTexts] = {}
        self.split_ids: dict[str, list[str]] = {}
        self.example_meta: dict[str, dict[str, torch.Tensor]] = {}
        self.embeddings: torch.Tensor | None = None
        self.is_pair = False
        self.cache_hit: bool | None = None  # None: no cache configured
        self.summary: dict[str, Any] = {}

    # -- building ---------------------------------------------------------------------------
    def processing_key(self) -> str:
        """The cache key: the source's fingerprint and every setting that changes the processed data
        (not batch sizes, seeds of the batch order, or workers)."""
        restored = self.tokenizer.to_str() if self.tokenizer is not None else None
        return cache_key({
            "source": self.spec.fingerprint(), "split_seed": self.split_seed,
            "val_fraction": self.val_fraction, "test_fraction": self.test_fraction,
            "tokenizer": self.tokenizer_kind, "lowercase": self.lowercase, "max_vocab": self.max_vocab,
            "min_freq": self.min_freq, "max_length": self.max_length, "truncation_side": self.truncation_side,
            "drop_empty": self.drop_empty,
            # row filters (order-sensitive: data.labels orders the classes); the map as sorted pairs
            "labels": self.labels, "label_map": sorted(self.label_map.items()) if self.label_map else None,
            "max_tokens": self.max_tokens,
            "restored_tokenizer": restored and hashlib.sha256(restored.encode()).hexdigest(),
            "restored_labels": self.label_names if restored else None,
            "embeddings": self.embeddings_path and file_fingerprint(self.embeddings_path),
        })

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        started = time.perf_counter()
        if self.cache_dir:
            data, self.cache_hit = DataCache(self.cache_dir).get_or_build(self.processing_key(), self._process)
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
        texts = corpus.texts
        empty = [i for i, t in enumerate(texts) if not t.strip() or (corpus.pairs and not corpus.pairs[i].strip())]
        if empty and not self.drop_empty:
            raise DataError(
                f"{where}: {len(empty)} empty or whitespace-only text(s), e.g. {[corpus.ids[i] for i in empty[:5]]}. "
                "Fix: remove them, or set data.drop_empty=true to drop them with a count."
            )
        if empty:
            log.warning("%s: dropped %d empty or whitespace-only text(s)", where, len(empty))
        keep = np.setdiff1d(np.arange(len(texts)), np.asarray(empty, dtype=np.int64))
        split_idx = assign_splits(corpus, keep, self.val_fraction, self.test_fraction, self.split_seed)
        labels = np.asarray(corpus.labels)
        seen = set(labels[split_idx["train"]].tolist())
        for name in ("val", "test"):
            unseen = [i for i in split_idx[name] if labels[i] not in seen]
            if unseen:
                names = sorted({corpus.label_names[labels[i]] for i in unseen})
                raise DataError(
                    f"{where}: label(s) {names} occur in the {name} split ({len(unseen)} row(s), e.g. "
                    f"{corpus.ids[unseen[0]]}) but never in train, so no model can learn them. Fix: add training "
                    "examples of those labels or remove those rows."
                )
        if self.tokenizer is None:  # restored from a checkpoint otherwise
            train_texts = [texts[i] for i in split_idx["train"]]
            if corpus.pairs is not None:  # one vocabulary for both texts of a pair
                train_texts += [corpus.pairs[i] for i in split_idx["train"]]
            tokenizer = fit_tokenizer(self.tokenizer_kind, train_texts, self.max_vocab, self.min_freq, self.lowercase)
            label_names = list(corpus.label_names)
        else:
            tokenizer, label_names = self.tokenizer, self.label_names
            if label_names != list(corpus.label_names):
                raise ValueError(
                    f"checkpoint labels {label_names} differ from data.source={self.source!r} labels "
                    f"{corpus.label_names}"
                )
        out: dict[str, Any] = {
            "tokenizer_json": tokenizer.to_str(), "label_names": label_names, "is_pair": corpus.pairs is not None,
            "stats": {**corpus.stats, **filtered, "empty_dropped": len(empty)}, "splits": {},
        }
        for name in SPLITS:
            idx = split_idx[name]
            ids, counts = encode(tokenizer, [texts[i] for i in idx], self.max_length, self.truncation_side)
            flat, lengths = _flat(ids)
            part: dict[str, Any] = {
                "ids": flat, "lengths": lengths, "counts": torch.tensor(counts, dtype=torch.long),
                "labels": torch.as_tensor(labels[idx], dtype=torch.long), "doc_ids": [corpus.ids[i] for i in idx],
                "meta": {k: torch.tensor([v[i] for i in idx], dtype=torch.long) for k, v in corpus.meta.items()},
            }
            if corpus.pairs is not None:
                pair_ids, pair_counts = encode(
                    tokenizer, [corpus.pairs[i] for i in idx], self.max_length, self.truncation_side
                )
                part["pair_ids"], part["pair_lengths"] = _flat(pair_ids)
                part["pair_counts"] = torch.tensor(pair_counts, dtype=torch.long)
            out["splits"][name] = part
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

    def _adopt(self, data: dict[str, Any]) -> None:
        self.tokenizer = Tokenizer.from_str(data["tokenizer_json"])
        self.label_names = list(data["label_names"])
        self.is_pair = bool(data["is_pair"])
        self.embeddings = data["embeddings"]
        for name, part in data["splits"].items():
            pair = _unflat(part["pair_ids"], part["pair_lengths"]) if self.is_pair else None
            self.datasets[name] = EncodedTexts(_unflat(part["ids"], part["lengths"]), part["labels"], pair)
            self.split_ids[name] = list(part["doc_ids"])
            self.example_meta[name] = dict(part["meta"])

    def _summarize(self, data: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Split sizes, class balance, token-length percentiles (before truncation), truncation and
        out-of-vocabulary rates, and the training padding ratio with and without bucketing."""
        summary: dict[str, Any] = {
            "source": self.source, "vocab_size": self.vocab_size, "num_classes": self.num_classes,
            "label_names": list(self.label_names), "is_pair": self.is_pair,
            "cache": {None: "off", True: "hit", False: "built"}[self.cache_hit], "process_s": seconds,
            **data["stats"],
        }
        if data["embedding_coverage"] is not None:
            summary["embedding_coverage"] = data["embedding_coverage"]
        for name, part in data["splits"].items():
            summary[f"{name}/size"] = len(part["labels"])
            counts = torch.bincount(part["labels"], minlength=self.num_classes).tolist()
            summary[f"{name}/classes"] = dict(zip(self.label_names, counts, strict=True))
            sides = [("", "ids", "counts")] + ([("pair_", "pair_ids", "pair_counts")] if self.is_pair else [])
            for prefix, ids_key, counts_key in sides:
                summary.update(_percentiles(part[counts_key], f"{name}/{prefix}"))
                summary[f"{name}/{prefix}truncated"] = float((part[counts_key] > self.max_length).float().mean())
                summary[f"{name}/{prefix}oov_rate"] = float((part[ids_key] == UNK_ID).float().mean())
            if "length" in part["meta"]:
                values, n = torch.unique(part["meta"]["length"], return_counts=True)
                summary[f"{name}/by_length"] = dict(zip(map(str, values.tolist()), n.tolist(), strict=True))
        train = self.datasets["train"]
        for label, pool in (("bucketed", BucketBySequenceLength.DEFAULT_POOL_BATCHES), ("random", 1)):
            batches = list(BucketBySequenceLength(train.lengths, self.batch_size, seed=self.seed, pool_batches=pool))
            summary[f"train/padding_{label}"] = padding_ratio(batches, train.text_lengths, train.pair_lengths)
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

    # -- loaders ----------------------------------------------------------------------------
    def _loader(self, split: str, train: bool) -> DataLoader:
        ds = self.datasets[split]
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = BucketBySequenceLength(
            ds.lengths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            # a pool of one batch is plain random batching (no bucketing)
            pool_batches=BucketBySequenceLength.DEFAULT_POOL_BATCHES if self.bucket else 1,
            num_replicas=replicas,
            rank=rank,
        )
        return DataLoader(
            ds, batch_sampler=sampler, collate_fn=collate, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    # -- checkpoint state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.tokenizer is None:
            return {}
        return {"tokenizer_json": self.tokenizer.to_str(), "label_names": list(self.label_names)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.tokenizer = Tokenizer.from_str(state["tokenizer_json"])
            self.label_names = list(state["label_names"])
