"""Translation sets from the Hugging Face Hub (``data=s2s_hub``: e.g. ``opus_books``, ``wmt14``,
``iwslt2017``), by name or from a local copy (``data.path``), with the hub sources' offline
fail-fast. Columns name plain text columns, or one language of a ``translation`` dict column as
``translation.en``."""

from __future__ import annotations

from typing import Any

from attnbench.data.seq2seq.corpus import DataError, PairCorpus
from attnbench.data.sources.hub import open_hub_dataset

HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def _column(ds: Any, name: str, key: str, where: str) -> list[str]:
    column, _, field = name.partition(".")
    if column not in ds.column_names:
        raise DataError(
            f"{where}: no column {column!r} ({key}); available columns: {', '.join(ds.column_names)}. "
            f"Fix: set {key}=<column> or <column>.<language> for a translation column"
        )
    values = ds[column]
    if not field:
        return ["" if v is None else str(v) for v in values]
    if values and (not isinstance(values[0], dict) or field not in values[0]):
        keys = sorted(values[0]) if isinstance(values[0], dict) else "(not a dict column)"
        raise DataError(f"{where}: column {column!r} has no language {field!r} ({key}); it has {keys}")
    return [str(v[field]) for v in values]


def load_hub_pairs(
    dataset: str | None,
    subset: str | None,
    path: str | None,
    source_column: str,
    target_column: str,
    splits: dict[str, str | None] | None = None,
) -> PairCorpus:
    """The pairs of a hub dataset's splits (``splits``: ours → theirs; None: carve it from train)."""
    dd = open_hub_dataset(dataset, subset, path)
    names = {**HUB_SPLITS, **(splits or {})}
    split: list[str] = []
    corpus = PairCorpus([], [], [], split=split)
    for ours, theirs in names.items():
        if theirs is None or (theirs not in dd and ours != "train"):
            continue  # a missing val/test split is carved from train
        if theirs not in dd:
            raise DataError(
                f"hub dataset {dataset or path!r} has no split {theirs!r} (data.splits.{ours}); "
                f"available: {list(dd.keys())}. Fix: data.splits.{ours}=<one of them>"
            )
        where = f"hub dataset {dataset or path!r}, split {theirs!r}"
        sources = _column(dd[theirs], source_column, "data.source_column", where)
        corpus.sources += sources
        corpus.targets += _column(dd[theirs], target_column, "data.target_column", where)
        corpus.ids += [f"{theirs}/{i}" for i in range(len(sources))]
        split += [ours] * len(sources)
    return corpus
