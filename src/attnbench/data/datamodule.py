"""LightningDataModule for text classification: source → split → tokenizer → bucketed batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
from sklearn.model_selection import train_test_split
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from attnbench.data.batching import BucketBySequenceLength, EncodedTexts, collate
from attnbench.data.sources import TextCorpus, load_source
from attnbench.data.tokenize import UNK_ID, encode, fit_word_tokenizer

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


class TextClassificationDataModule(pl.LightningDataModule):
    """Text classification data: one source, a stratified seeded split, a tokenizer fit on train.

    After :meth:`setup`, ``vocab_size``, ``num_classes`` and ``label_names`` describe the data.
    The fitted tokenizer and label names are saved in checkpoints (``state_dict``), so evaluation
    of a checkpoint uses exactly the vocabulary it was trained with. ``name`` only labels the data
    config (reports, run records); ``source`` picks the loader.
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
    ) -> None:
        super().__init__()
        if max_length < 1:
            raise ValueError(f"data.max_length must be >= 1, got {max_length}")
        if tokenizer != "word":
            raise ValueError(f"data.tokenizer={tokenizer!r} is not available; use 'word'")
        self.source, self.path = source, path
        self.split_seed, self.val_fraction, self.test_fraction = split_seed, val_fraction, test_fraction
        self.lowercase, self.max_vocab, self.min_freq, self.max_length = lowercase, max_vocab, min_freq, max_length
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.bucket, self.num_workers, self.seed = bucket, num_workers, seed
        self.tokenizer: Tokenizer | None = None
        self.label_names: list[str] = []
        self.datasets: dict[str, EncodedTexts] = {}
        self.split_ids: dict[str, list[str]] = {}
        self.summary: dict[str, Any] = {}

    # -- building ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        corpus: TextCorpus = load_source(self.source, self.path)
        splits = stratified_split(corpus.labels, self.val_fraction, self.test_fraction, self.split_seed)
        texts = {name: [corpus.texts[i] for i in getattr(splits, name)] for name in ("train", "val", "test")}
        labels = {name: [corpus.labels[i] for i in getattr(splits, name)] for name in ("train", "val", "test")}
        self.split_ids = {name: [corpus.ids[i] for i in getattr(splits, name)] for name in ("train", "val", "test")}
        if self.tokenizer is None:  # restored from a checkpoint otherwise
            self.tokenizer = fit_word_tokenizer(texts["train"], self.max_vocab, self.min_freq, self.lowercase)
            self.label_names = list(corpus.label_names)
        elif self.label_names != list(corpus.label_names):
            raise ValueError(
                f"checkpoint labels {self.label_names} differ from data.source={self.source!r} labels "
                f"{corpus.label_names}"
            )
        summary: dict[str, Any] = {"vocab_size": self.vocab_size, "num_classes": self.num_classes, **corpus.stats}
        for name in ("train", "val", "test"):
            ids, counts = encode(self.tokenizer, texts[name], self.max_length)
            self.datasets[name] = EncodedTexts(ids, labels[name])
            full = np.asarray(counts)
            n_tokens = sum(len(x) for x in ids)
            summary[f"{name}/size"] = len(ids)
            summary[f"{name}/len_p50"] = float(np.percentile(full, 50))
            summary[f"{name}/len_p95"] = float(np.percentile(full, 95))
            summary[f"{name}/truncated"] = float(np.mean(full > self.max_length))
            summary[f"{name}/oov_rate"] = sum(x.count(UNK_ID) for x in ids) / max(n_tokens, 1)
        self.summary = summary
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}
        log.info("data %s: %s", self.source, shown)

    @property
    def vocab_size(self) -> int:
        if self.tokenizer is None:
            raise RuntimeError("call setup() before reading vocab_size")
        return self.tokenizer.get_vocab_size()

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

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
