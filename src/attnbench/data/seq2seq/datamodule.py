"""LightningDataModule for sequence to sequence: pairs (generated or read) → splits → vocabularies →
(cache) → batches bucketed by source length."""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from typing import Any, TypedDict

import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from attnbench.config.seq2seq import Seq2SeqDataConfig
from attnbench.data.batching import BucketBySequenceLength, padding_ratio
from attnbench.data.cache import DataCache, cache_key
from attnbench.data.dedup import count_seen_in_train, ids_key
from attnbench.data.loaders import BucketedLoaders
from attnbench.data.seq2seq.batching import EncodedPairs, collate_pairs
from attnbench.data.seq2seq.corpus import DataError, PairCorpus
from attnbench.data.seq2seq.generated import GENERATOR_VERSION, generate
from attnbench.data.seq2seq.hub import load_hub_pairs
from attnbench.data.seq2seq.local import load_pairs
from attnbench.data.seq2seq.prepare import SPLITS, PairSettings, length_buckets, process
from attnbench.data.seq2seq.vocab import Vocab
from attnbench.data.sources.hub import hub_revision
from attnbench.data.sources.local import file_fingerprint

SOURCES = ("generated", "local_pairs", "hub")


class HubSettings(TypedDict):
    """The ``hub`` source's own settings (part of the processing key)."""

    dataset: str | None
    subset: str | None
    splits: dict[str, str | None]


class Seq2SeqDataModule(BucketedLoaders):
    """Parallel data for the encoder–decoder.

    ``source``: ``generated`` (``generate``: the :mod:`attnbench.data.seq2seq.generated` settings) or
    ``local_pairs`` (``path``, ``format``, ``source_column``, ``target_column``, ``split_column``) or
    ``hub`` (``dataset``, ``subset``, ``splits``, or a local copy in ``path``; columns may name one
    language of a translation column, ``translation.en``).
    ``tokenizer`` (char | word), ``lowercase``, ``max_vocab``, ``min_freq``, ``shared_vocab``,
    ``max_length``/``max_target_length`` (tokens; longer pairs are an error unless ``truncation``),
    ``reverse_source``, ``val_fraction``/``test_fraction`` (when the source has no such split) and
    ``split_seed`` decide the processed data (:class:`PairSettings`). After :meth:`setup`:
    ``source_vocab``, ``target_vocab``, ``datasets[split]``, ``split_ids[split]``, ``summary``, and the
    length buckets the metrics report (``length_edges``, ``length_labels``). The vocabularies are saved
    in checkpoints (``state_dict``).
    """

    collate_fn = collate_pairs  # the loaders are BucketedLoaders'

    def __init__(
        self,
        source: str,
        generate: dict[str, Any] | None,
        path: str | None,
        format: str | None,
        source_column: str,
        target_column: str,
        split_column: str | None,
        dataset: str | None,
        subset: str | None,
        splits: dict[str, str | None] | None,
        name: str | None,
        seed: int,
        batch_size: int,
        eval_batch_size: int,
        num_workers: int,
        bucket: bool,
        cache_dir: str | None,
        **settings: Any,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise DataError(f"data.source={source!r} is not a seq2seq source; use one of {list(SOURCES)}")
        unknown = sorted(set(settings) - {f.name for f in fields(PairSettings)})
        if unknown:
            raise DataError(f"data.{unknown[0]} is not a seq2seq data setting")
        self.settings = PairSettings(**settings)
        self.source, self.generate_cfg, self.path, self.format = source, dict(generate or {}), path, format
        self.columns = (source_column, target_column, split_column)
        self.hub: HubSettings = {"dataset": dataset, "subset": subset, "splits": dict(splits or {})}
        self.embeddings = None  # no pretrained vectors for seq2seq (the run asks every data module)
        self.batch_size, self.eval_batch_size, self.bucket = batch_size, eval_batch_size, bucket
        self.num_workers, self.seed, self.name, self.cache_dir = num_workers, seed, name, cache_dir
        self.source_vocab: Vocab | None = None
        self.target_vocab: Vocab | None = None
        self.datasets: dict[str, EncodedPairs] = {}
        self.split_ids: dict[str, list[str]] = {}
        self.length_edges: list[int] = []
        self.length_labels: list[str] = []
        self.summary: dict[str, Any] = {}
        self.built_key: str | None = None  # the processing key setup() used, saved with checkpoints

    @classmethod
    def from_schema(cls, **settings: Any) -> Seq2SeqDataModule:
        """The data module of the schema's defaults (:class:`Seq2SeqDataConfig`) with ``settings`` over
        them, as Hydra composes ``data``, for Python callers (tests, benchmarks). Cache off unless given."""
        schema = {k: v for k, v in asdict(Seq2SeqDataConfig()).items() if not k.startswith("_")}
        schema["cache_dir"] = None
        generate = {**schema.pop("generate"), **settings.pop("generate", {})}
        return cls(**{**schema, **settings, "generate": {k: v for k, v in generate.items() if v is not None}})

    def _corpus(self) -> PairCorpus:
        if self.source == "generated":
            return generate(self.generate_cfg, self.settings.split_seed, self.settings.dedup)
        if self.source == "hub":
            return load_hub_pairs(
                self.hub["dataset"], self.hub["subset"], self.path, self.columns[0], self.columns[1], self.hub["splits"]
            )
        return load_pairs(self.path, *self.columns, fmt=self.format)

    def processing_key(self) -> str:
        """Everything that changes the processed data (not batch sizes or batch-order seeds)."""
        origin: Any = {"generate": self.generate_cfg, "version": GENERATOR_VERSION}
        if self.source != "generated":
            origin = {
                "path": self.path and file_fingerprint(self.path),
                "format": self.format,
                "columns": self.columns,
                "hub": self.hub,
                # a hub download: the revision the local hub cache holds (a new one makes a new key)
                "revision": hub_revision(self.hub["dataset"]) if self.source == "hub" and not self.path else None,
            }
        restored = [v.to_dict() for v in (self.source_vocab, self.target_vocab) if v is not None]
        return cache_key(
            {"seq2seq": self.source, "origin": origin, "settings": self.settings.as_dict(), "restored": restored}
        )

    def _process(self) -> dict[str, Any]:
        vocabs = (self.source_vocab, self.target_vocab) if self.source_vocab and self.target_vocab else None
        return process(self._corpus(), self.settings, vocabs)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        started = time.perf_counter()
        hit = None
        self.built_key = self.processing_key()
        if self.cache_dir:
            data, hit = DataCache(self.cache_dir).get_or_build(self.built_key, self._process)
        else:
            data = self._process()
        self.source_vocab = Vocab.from_dict(data["source_vocab"])
        self.target_vocab = Vocab.from_dict(data["target_vocab"])
        for name, part in data["splits"].items():
            self.datasets[name] = EncodedPairs(part["sources"], part["targets"], part["lengths"])
            self.split_ids[name] = list(part["ids"])
        # edges from every split: validation lengths the test split lacks get buckets of their own
        self.length_edges, self.length_labels = length_buckets([n for ds in self.datasets.values() for n in ds.axis])
        self.summary = self._summarize({None: "off", True: "hit", False: "built"}[hit], time.perf_counter() - started)
        self.summary.update({"dedup": self.settings.dedup, **data["stats"], **self._in_train()})
        rank_zero_info(f"data {self.name or self.source}: {self.summary}")

    def _summarize(self, cache: str, seconds: float) -> dict[str, Any]:
        assert self.source_vocab is not None and self.target_vocab is not None, "setup() set the vocabularies"
        summary: dict[str, Any] = {
            "source": self.source,
            "source_vocab_size": len(self.source_vocab),
            "cache": cache,
            "target_vocab_size": len(self.target_vocab),
            "process_s": round(seconds, 3),
        }
        for name in SPLITS:
            ds = self.datasets[name]
            summary[f"{name}/size"] = len(ds)
            for side, seqs in (("source", ds.sources), ("target", ds.targets)):
                counts = np.asarray([len(s) for s in seqs])
                summary[f"{name}/{side}_len_p50"] = float(np.percentile(counts, 50))
                summary[f"{name}/{side}_len_max"] = int(counts.max())
            values, n = np.unique(ds.axis, return_counts=True)
            if len(values) <= 32:
                summary[f"{name}/by_length"] = {str(v): int(c) for v, c in zip(values, n, strict=True)}
        train = self.datasets["train"]
        batches = list(BucketBySequenceLength(train.lengths, self.batch_size, seed=self.seed))
        summary["train/padding_bucketed"] = round(padding_ratio(batches, train.lengths), 4)
        return summary

    def task_kwargs(self) -> dict[str, Any]:
        """What the task needs from the data (after setup): vocabulary sizes, the target vocabulary
        (to turn ids into tokens for BLEU/chrF), and the length buckets of the metrics."""
        if self.source_vocab is None or self.target_vocab is None:
            raise RuntimeError("call setup() before task_kwargs()")
        return {
            "source_vocab_size": len(self.source_vocab),
            "target_vocab_size": len(self.target_vocab),
            "target_vocab": self.target_vocab.to_dict(),
            "length_edges": list(self.length_edges),
            "length_labels": list(self.length_labels),
            "longest_target": max(len(t) for t in self.datasets["train"].targets),
        }

    def state_dict(self) -> dict[str, Any]:
        if self.source_vocab is None or self.target_vocab is None:
            return {}
        return {
            "source_vocab": self.source_vocab.to_dict(),
            "target_vocab": self.target_vocab.to_dict(),
            # what the checkpoint's training data was: attnbench-eval compares it with its own data settings
            "data_config": self.data_identity(),
            "processing_key": self.built_key,
        }

    def data_identity(self) -> dict[str, Any]:
        """The settings that decide which pairs exist and which split each falls in (what an evaluation
        must share with training for its test set to be unseen)."""
        origin: Any = {"generate": self.generate_cfg}
        if self.source != "generated":
            origin = {"path": self.path and file_fingerprint(self.path), "columns": self.columns, "hub": self.hub}
        s = self.settings
        return {
            "source": self.source,
            "origin": origin,
            "split_seed": s.split_seed,
            "val_fraction": s.val_fraction,
            "test_fraction": s.test_fraction,
            "dedup": s.dedup,
        }

    def _in_train(self) -> dict[str, int]:
        """``<split>/in_train``: validation and test pairs whose source ids occur in train (0 unless dedup=none)."""
        return count_seen_in_train(self.datasets, lambda d: [ids_key(s) for s in d.sources])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.source_vocab = Vocab.from_dict(state["source_vocab"])
            self.target_vocab = Vocab.from_dict(state["target_vocab"])
