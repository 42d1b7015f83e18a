"""De-duplication before splitting (``data.dedup``), so that no evaluation example repeats a training one.

Every source goes through it: the classification sources (BBC News, local files, the hub, 20 newsgroups,
the synthetic tasks) and the seq2seq ones (local pairs, the hub, the generated tasks). Two rows are
copies when their *input* is the same: the text (and the second text of a pair) for classification, the
source sequence for seq2seq. Of a group of copies one row is kept: the first of the training split when
the source has splits (so evaluation splits lose what train already holds), else the first. A group
whose copies disagree on the label (the target, for seq2seq) is dropped whole and counted: no model can
get both right, and keeping one copy would pick a label at random.

Modes: ``exact`` (the input as read), ``normalized`` (case folded and runs of whitespace made one
space), ``none`` (keep everything; the data summary then counts the leaks).

The generators draw distinct inputs instead (:class:`DistinctDraws`): train, then validation, then
test, each skipping what an earlier split (or itself) already holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from attnbench.data.corpus import DataError, TextCorpus

DEDUP_MODES = ("exact", "normalized", "none")
SPLIT_RANK = {"train": 0, "val": 1, "test": 2}
T = TypeVar("T")


def check_mode(mode: str) -> str:
    if mode not in DEDUP_MODES:
        raise DataError(f"data.dedup={mode!r} is unknown; use one of {list(DEDUP_MODES)}")
    return mode


def input_key(mode: str, *texts: str | None) -> bytes:
    """A 16-byte digest of an example's input (its texts) under ``mode``: equal inputs, equal keys."""
    parts = [t or "" for t in texts]
    if mode == "normalized":
        parts = [" ".join(t.split()).casefold() for t in parts]
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).digest()


def dedup_rows(
    keys: Sequence[bytes], labels: Sequence[Any], split: Sequence[str] | None, rows: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """The rows (indices among ``rows``) left after de-duplication, sorted, and the counts removed:
    ``dedup_removed`` (copies beyond the one kept) and ``dedup_conflicts_dropped`` (rows of groups whose
    labels disagree), each also per split (``<split>/dedup_...``) when the source has splits."""
    groups: dict[bytes, list[int]] = {}
    for i in rows.tolist():
        groups.setdefault(keys[i], []).append(i)
    kept: list[int] = []
    stats = {"dedup_removed": 0, "dedup_conflicts_dropped": 0}
    if split is not None:
        stats.update({f"{s}/dedup_{what}": 0 for s in SPLIT_RANK for what in ("removed", "conflicts_dropped")})

    names: Sequence[str] = split if split is not None else ["train"] * len(keys)  # no splits: one pool

    def count(what: str, members: list[int]) -> None:
        stats[f"dedup_{what}"] += len(members)
        for i in members if split is not None else ():
            stats[f"{names[i]}/dedup_{what}"] += 1

    for members in groups.values():
        if len(members) == 1:
            kept.append(members[0])
        elif len({labels[i] for i in members}) > 1:
            count("conflicts_dropped", members)
        else:
            first = min(members, key=lambda i: (SPLIT_RANK[names[i]], i))
            kept.append(first)
            count("removed", [i for i in members if i != first])
    return np.asarray(sorted(kept), dtype=np.int64), stats


def ids_key(*seqs: Any) -> bytes:
    """A key of token id sequences (tensors or lists): the model's input after tokenisation and truncation."""
    return b"\x00".join(np.asarray(s, dtype=np.int64).tobytes() + b"|" for s in seqs)


class DistinctDraws:
    """Draws for a generator that must not repeat an input: :meth:`draw` calls ``make`` until its
    input's key is new (across every split drawn so far). :meth:`begin` starts a split of ``n`` items;
    after ``tries_per_item`` draws per item (plus a margin) it fails, naming the settings (``fix``) that
    bound the space of distinct items. ``mode=none`` repeats freely (the old behaviour)."""

    def __init__(self, mode: str, fix: str, tries_per_item: int = 50) -> None:
        self.mode, self.fix, self.tries_per_item = check_mode(mode), fix, tries_per_item
        self.seen: set[bytes] = set()
        self.what, self.n, self.tries, self.found = "", 0, 0, 0

    def begin(self, n: int, what: str) -> None:
        """Start drawing ``n`` items; ``what`` names them in the error (split, length)."""
        self.what, self.n, self.tries, self.found = what, n, 0, 0

    def draw(self, make: Callable[[], T], texts: Callable[[T], tuple[str | None, ...]]) -> T:
        """An item of ``make`` whose input (``texts(item)``) no earlier draw had."""
        while True:
            item = make()
            self.tries += 1
            if self.mode == "none":
                return item
            key = input_key(self.mode, *texts(item))
            if key not in self.seen:
                self.seen.add(key)
                self.found += 1
                return item
            if self.tries >= self.tries_per_item * self.n + 1000:
                raise DataError(
                    f"{self.what}: only {self.found} of {self.n} distinct inputs (none in an earlier split) "
                    f"found in {self.tries} draws: the space of distinct items is too small for the sizes "
                    f"asked. Fix: {self.fix}"
                )


def dedup_corpus(corpus: TextCorpus, rows: np.ndarray, mode: str) -> tuple[np.ndarray, dict[str, int]]:
    """The rows of a classification corpus (among ``rows``) that :func:`dedup_rows` keeps, and its
    counts; the input is the text, or the text pair. ``mode=none`` keeps every row."""
    if check_mode(mode) == "none":
        return rows, {}
    pairs = corpus.pairs
    keys = [input_key(mode, t, pairs[i] if pairs is not None else None) for i, t in enumerate(corpus.texts)]
    return dedup_rows(keys, corpus.labels, corpus.split, rows)


def drop_eval_seen_in_train(
    splits: dict[str, dict[str, Any]],
    mode: str,
    keys_of: Callable[[dict[str, Any]], list[bytes]],
    subset: Callable[[dict[str, Any], list[int]], dict[str, Any]],
    what: str,
) -> dict[str, int]:
    """Remove (in place) the validation and test items whose input, as the model sees it (``keys_of``:
    token ids after truncation), equals a training item's: de-duplicating the raw texts cannot see that
    ``max_length`` or unknown tokens make two inputs one. ``subset(part, rows)`` keeps ``rows`` of a
    split; ``what`` names an item's input in the error. Returns ``<split>/dedup_truncated_removed``
    counts; nothing happens at ``mode=none``."""
    if mode == "none":
        return {}
    train = set(keys_of(splits["train"]))
    stats = {}
    for name in ("val", "test"):
        keys = keys_of(splits[name])
        rows = [i for i, k in enumerate(keys) if k not in train]
        stats[f"{name}/dedup_truncated_removed"] = len(keys) - len(rows)
        if not rows:
            raise DataError(
                f"every {name} {what}, truncated to data.max_length, equals a training one's. "
                "Fix: raise data.max_length, or set data.dedup=none"
            )
        if len(rows) < len(keys):
            splits[name] = subset(splits[name], rows)
    return stats


def count_seen_in_train(splits: dict[str, Any], keys_of: Callable[[Any], list[bytes]]) -> dict[str, int]:
    """``<split>/in_train``: validation and test items whose input (``keys_of``) occurs in train: 0
    unless ``data.dedup=none``."""
    train = set(keys_of(splits["train"]))
    return {f"{name}/in_train": sum(k in train for k in keys_of(splits[name])) for name in ("val", "test")}
