"""Row filters applied to a whole corpus before it is split: label selection and mapping
(``data.labels``, ``data.label_map``) and a document-length limit (``data.max_tokens``).

Each returns a new :class:`TextCorpus` and the number of rows it dropped (for the data summary).
They run before splitting, so a source's own splits and the carved ones see the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tokenizers import normalizers, pre_tokenizers

from attnbench.data.corpus import DataError, TextCorpus

FilterSettings = tuple[list[str] | None, dict[str, str | None] | None, int | None]


def checked_filter_settings(labels: Any, label_map: Any, max_tokens: Any) -> FilterSettings:
    """``data.labels``, ``data.label_map`` and ``data.max_tokens`` checked (the schema types
    ``label_map`` as ``Any``, and Python callers pass anything), with names as strings, as the corpus
    has them."""
    if max_tokens is not None and (isinstance(max_tokens, bool) or int(max_tokens) != max_tokens or max_tokens < 1):
        raise ValueError(f"data.max_tokens must be a positive integer or null, got {max_tokens!r}")
    if labels is not None and (isinstance(labels, str) or not isinstance(labels, list | tuple)):
        raise ValueError(f"data.labels must be a list of label names or null, got {labels!r}")
    if label_map is not None and not isinstance(label_map, dict):
        raise ValueError(f"data.label_map must be a mapping {{source label: new label or null}}, got {label_map!r}")
    return (
        [str(name) for name in labels] if labels is not None else None,
        {str(k): (None if v is None else str(v)) for k, v in label_map.items()} if label_map is not None else None,
        int(max_tokens) if max_tokens is not None else None,
    )


def subset(
    corpus: TextCorpus,
    keep: Sequence[int],
    labels: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
) -> TextCorpus:
    """The rows ``keep`` of ``corpus`` (in order), optionally with new labels (one per kept row) and
    label names."""
    keep = list(keep)

    def pick(values):
        return None if values is None else [values[i] for i in keep]

    return TextCorpus(
        texts=pick(corpus.texts),
        labels=list(labels) if labels is not None else pick(corpus.labels),
        label_names=list(label_names) if label_names is not None else list(corpus.label_names),
        ids=pick(corpus.ids),
        stats=dict(corpus.stats),
        pairs=pick(corpus.pairs),
        split=pick(corpus.split),
        meta={k: pick(v) for k, v in corpus.meta.items()},
    )


def map_labels(corpus: TextCorpus, label_map: Mapping[str, str | None]) -> tuple[TextCorpus, int]:
    """Rename / merge labels with ``label_map`` (source label name → new name, or None: drop its rows).

    Every source label must be in the map (a forgotten class would otherwise vanish silently), and every
    key must be a source label (a typo would otherwise map nothing). The new classes are ordered as the
    first source class that maps to each, so the source's class order survives (``data.labels`` can
    reorder them). Returns the new corpus and the number of rows dropped.
    """
    mapping = {str(k).strip(): (None if v is None else str(v).strip()) for k, v in label_map.items()}
    available = list(corpus.label_names)
    unknown = [k for k in mapping if k not in available]
    if unknown:
        raise DataError(
            f"data.label_map names label(s) {unknown} that the source does not have; its labels are {available}. "
            "Fix: use those names as the keys of data.label_map."
        )
    unmapped = [name for name in available if name not in mapping]
    if unmapped:
        raise DataError(
            f"data.label_map does not say what to do with the source label(s) {unmapped} (source labels: "
            f"{available}). Fix: map each to a new name, or to null to drop its rows."
        )
    new_names: list[str] = []
    for name in available:
        target = mapping[name]
        if target is not None and target not in new_names:
            new_names.append(target)
    if not new_names:
        raise DataError("data.label_map maps every label to null, so no rows are left. Fix: keep some labels.")
    targets = [mapping[name] for name in available]  # by old class id
    old_to_new = {old: new_names.index(new) for old, new in enumerate(targets) if new is not None}
    keep = [i for i, y in enumerate(corpus.labels) if y in old_to_new]
    labels = [old_to_new[corpus.labels[i]] for i in keep]
    return subset(corpus, keep, labels, new_names), len(corpus.labels) - len(keep)


def select_labels(corpus: TextCorpus, labels: Sequence[str]) -> tuple[TextCorpus, int]:
    """Keep only rows whose label name is in ``labels``; class ids follow the order of ``labels``.
    Returns the new corpus and the number of rows dropped."""
    wanted = [str(name).strip() for name in labels]
    available = list(corpus.label_names)
    if len(wanted) < 2:
        raise DataError(
            f"data.labels={wanted} must list at least two labels (a classifier needs two classes); "
            f"available labels: {available}"
        )
    duplicated = sorted({n for n in wanted if wanted.count(n) > 1})
    if duplicated:
        raise DataError(f"data.labels lists {duplicated} more than once. Fix: name each label once.")
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise DataError(
            f"data.labels names label(s) {unknown} that the data does not have; available labels: {available}. "
            "Fix: use names from that list (after data.label_map, when one is set)."
        )
    old_to_new = {available.index(name): i for i, name in enumerate(wanted)}
    keep = [i for i, y in enumerate(corpus.labels) if y in old_to_new]
    new_labels = [old_to_new[corpus.labels[i]] for i in keep]
    return subset(corpus, keep, new_labels, wanted), len(corpus.labels) - len(keep)


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """Word tokens per text as the ``word`` tokenizer splits them (NFKC, then ``\\w+`` words and
    punctuation runs), without a vocabulary, so they can be counted before the tokenizer is fit."""
    norm, pre = normalizers.NFKC(), pre_tokenizers.Whitespace()
    return np.fromiter(
        (len(pre.pre_tokenize_str(norm.normalize_str(t))) for t in texts), dtype=np.int64, count=len(texts)
    )


def drop_long(corpus: TextCorpus, max_tokens: int) -> tuple[TextCorpus, int]:
    """Drop documents of ``max_tokens`` word tokens or more (the first text of a pair; counted before
    truncation, see :func:`word_counts`). Returns the new corpus and the number of rows dropped."""
    counts = word_counts(corpus.texts)
    keep = np.flatnonzero(counts < max_tokens).tolist()
    return subset(corpus, keep), len(corpus.texts) - len(keep)
