"""What the table-shaped sources (local files, Hugging Face datasets) share: which columns hold what,
and the rows gathered part by part (a file, a split) before they become one :class:`TextCorpus`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attnbench.data.corpus import TextCorpus


@dataclass(frozen=True)
class Columns:
    """Which columns hold what, and how a source names its splits (``None``: carve from train); the
    values come from the data config (``data.text_column``, ..., ``data.splits``)."""

    text: str
    label: str
    text_pair: str | None
    split: str | None
    splits: dict[str, str | None]


def as_text(values: list[Any]) -> list[str]:
    """Cells as strings; missing cells (None/NaN in JSONL or Parquet) become empty texts."""
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


@dataclass
class Rows:
    """Examples appended part by part; ``pairs`` is None unless the source has a second text column.
    ``labels`` are raw (strings or integers) until the whole corpus is read."""

    pairs: list[str] | None
    texts: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)

    @classmethod
    def for_columns(cls, columns: Columns) -> Rows:
        return cls(pairs=[] if columns.text_pair else None)

    def add(self, texts: list[Any], pairs: list[Any] | None, labels: list[Any], ids: list[str]) -> None:
        self.texts += as_text(texts)
        if self.pairs is not None and pairs is not None:
            self.pairs += as_text(pairs)
        self.labels += labels
        self.ids += ids

    def corpus(
        self, labels: list[int], label_names: list[str], stats: dict[str, int], split: list[str] | None
    ) -> TextCorpus:
        """The corpus with the label ids ``labels`` (one per row, indexing ``label_names``)."""
        return TextCorpus(self.texts, labels, label_names, self.ids, stats=stats, pairs=self.pairs, split=split)
