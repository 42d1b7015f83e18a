"""Pairs → splits → vocabularies → ids: the processing the seq2seq data module caches.

Bad inputs stop here with the pair that shows it and the fix: an empty source or target, or a
sequence longer than its maximum while ``truncation`` is off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from attnbench.data.dedup import check_mode, dedup_rows, drop_eval_seen_in_train, ids_key, input_key
from attnbench.data.seq2seq.corpus import DataError, PairCorpus
from attnbench.data.seq2seq.vocab import Vocab

SPLITS = ("train", "val", "test")
MAX_EXACT_BUCKETS = 12  # up to this many distinct lengths: one bucket each; more: equal-width bins


@dataclass(frozen=True)
class PairSettings:
    """What turns text into ids (every field goes into the cache key); the defaults and meanings are
    the schema's (:class:`attnbench.config.seq2seq.Seq2SeqDataConfig`)."""

    tokenizer: str
    lowercase: bool
    max_vocab: int
    min_freq: int
    shared_vocab: bool
    max_length: int
    max_target_length: int
    truncation: bool
    reverse_source: bool
    val_fraction: float
    test_fraction: float
    split_seed: int
    dedup: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _carve(pool: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(rest, carved) of corpus indices ``pool``, ``fraction`` of them carved at random (at least one)."""
    order = rng.permutation(pool)
    n = max(1, round(len(pool) * fraction))
    return np.sort(order[n:]), np.sort(order[:n])


def assign_splits(corpus: PairCorpus, settings: PairSettings) -> dict[str, np.ndarray]:
    """Indices per split: the corpus's own, with a missing val/test split carved from train, or (no
    splits at all) a random split by ``val_fraction``/``test_fraction``; seeded by ``split_seed``."""
    val, test = settings.val_fraction, settings.test_fraction
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise DataError(f"data.val_fraction={val} and data.test_fraction={test} must be in (0, 1) with sum < 1")
    rng = np.random.default_rng(settings.split_seed)
    names = np.asarray(corpus.split if corpus.split is not None else ["train"] * len(corpus))
    out = {s: np.flatnonzero(names == s) for s in SPLITS}
    if len(out["train"]) == 0:
        raise DataError("the pairs have no train split. Fix: add training rows or drop the split column")
    whole = len(out["train"])
    for split, fraction in (("test", test), ("val", val)):
        if len(out[split]) == 0:
            if len(out["train"]) < 2:
                raise DataError(f"{len(corpus)} pairs are too few to split into train/val/test. Fix: add pairs")
            out["train"], out[split] = _carve(out["train"], fraction * whole / len(out["train"]), rng)
    if len(out["train"]) == 0:
        raise DataError(f"{len(corpus)} pairs are too few to split into train/val/test. Fix: add pairs")
    return out


def length_buckets(lengths: list[int]) -> tuple[list[int], list[str]]:
    """Bucket upper edges and labels for metrics by length: every distinct length when there are at
    most ``MAX_EXACT_BUCKETS`` of them, else that many equal-width bins (labelled ``lo-hi``)."""
    values = sorted(set(lengths))
    if len(values) <= MAX_EXACT_BUCKETS:
        return values, [str(v) for v in values]
    low, high = values[0], values[-1]
    span = high - low + 1
    edges = sorted({low - 1 + -(-span * (i + 1) // MAX_EXACT_BUCKETS) for i in range(MAX_EXACT_BUCKETS)})
    labels, start = [], low
    for edge in edges:
        labels.append(str(edge) if edge == start else f"{start}-{edge}")
        start = edge + 1
    return edges, labels


def _checked_ids(
    vocab: Vocab, texts: list[str], ids: list[str], limit: int, side: str, truncation: bool
) -> list[list[int]]:
    out = []
    for text, name in zip(texts, ids, strict=True):
        encoded = vocab.encode(text)
        if not encoded:
            raise DataError(f"pair {name}: the {side} is empty. Fix: remove the pair or fill in its {side}")
        if len(encoded) > limit and not truncation:
            key = "data.max_length" if side == "source" else "data.max_target_length"
            raise DataError(
                f"pair {name}: the {side} has {len(encoded)} tokens, more than {key}={limit}. Fix: "
                f"raise {key}, or set data.truncation=true to cut longer {side}s"
            )
        out.append(encoded[:limit])
    return out


def process(corpus: PairCorpus, settings: PairSettings, vocabs: tuple[Vocab, Vocab] | None = None) -> dict[str, Any]:
    """Split, fit the vocabularies on train (unless ``vocabs`` restored from a checkpoint), encode.

    Returns plain containers: ``source_vocab``/``target_vocab`` dicts, and per split ``sources``,
    ``targets`` (lists of id lists), ``lengths`` (the length axis), ``ids``.
    """
    corpus, stats = dedup_pairs(corpus, settings.dedup)
    splits = assign_splits(corpus, settings)
    lengths = corpus.lengths
    if vocabs is None:

        def fit(texts: list[str]) -> Vocab:
            return Vocab.fit(
                settings.tokenizer,
                texts,
                max_vocab=settings.max_vocab,
                min_freq=settings.min_freq,
                lowercase=settings.lowercase,
            )

        train_src = [corpus.sources[i] for i in splits["train"]]
        train_tgt = [corpus.targets[i] for i in splits["train"]]
        if settings.shared_vocab:
            shared = fit(train_src + train_tgt)
            vocabs = (shared, shared)
        else:
            vocabs = (fit(train_src), fit(train_tgt))
    out: dict[str, Any] = {
        "source_vocab": vocabs[0].to_dict(),
        "target_vocab": vocabs[1].to_dict(),
        "splits": {},
        "stats": stats,
    }
    for name, idx in splits.items():
        names = [corpus.ids[i] for i in idx]
        sources = _checked_ids(
            vocabs[0], [corpus.sources[i] for i in idx], names, settings.max_length, "source", settings.truncation
        )
        targets = _checked_ids(
            vocabs[1],
            [corpus.targets[i] for i in idx],
            names,
            settings.max_target_length,
            "target",
            settings.truncation,
        )
        if settings.reverse_source:  # Sutskever et al. 2014: the first source words end up near the first targets
            sources = [s[::-1] for s in sources]
        axis = [lengths[i] for i in idx] if lengths is not None else [len(s) for s in sources]
        out["splits"][name] = {
            "sources": [torch.tensor(s) for s in sources],
            "targets": [torch.tensor(t) for t in targets],
            "lengths": axis,
            "ids": names,
        }
    stats.update(drop_seen_sources(out["splits"], settings.dedup))
    return out


def dedup_pairs(corpus: PairCorpus, mode: str) -> tuple[PairCorpus, dict[str, int]]:
    """``corpus`` with each source kept once (:func:`attnbench.data.dedup.dedup_rows`: the train copy
    first; a source whose copies have different targets dropped), and the counts removed."""
    if check_mode(mode) == "none":
        return corpus, {}
    keys = [input_key(mode, s) for s in corpus.sources]
    rows, stats = dedup_rows(keys, corpus.targets, corpus.split, np.arange(len(corpus)))
    if len(rows) == len(corpus):
        return corpus, stats
    if corpus.split is not None:
        for name in sorted(set(corpus.split) - {corpus.split[i] for i in rows}):
            raise DataError(
                f"the {name} split holds only copies of other pairs' sources (data.dedup={mode} removed every "
                f"one). Fix: give the {name} split pairs of its own, or set data.dedup=none"
            )

    def pick(values: list[Any] | None) -> list[Any] | None:
        return None if values is None else [values[i] for i in rows]

    kept = PairCorpus(
        [corpus.sources[i] for i in rows],
        [corpus.targets[i] for i in rows],
        [corpus.ids[i] for i in rows],
        split=pick(corpus.split),
        lengths=pick(corpus.lengths),
        stats=corpus.stats,
    )
    return kept, stats


def drop_seen_sources(splits: dict[str, dict[str, Any]], mode: str) -> dict[str, int]:
    """Remove (in place) validation and test pairs whose source ids (after truncation) equal a training
    pair's: truncation and unknown tokens can make different sources one input. Returns the counts."""
    return drop_eval_seen_in_train(splits, mode, _source_keys, _pick_rows, "pair's source")


def _source_keys(part: dict[str, Any]) -> list[bytes]:
    return [ids_key(s) for s in part["sources"]]


def _pick_rows(part: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    return {key: [values[i] for i in rows] for key, values in part.items()}
