"""What every source returns and how data goes wrong: the :class:`TextCorpus` type, the data errors and
the label mapping shared by the sources and the synthetic generators (which import it here, not from
each other)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """Bad data or data config; the message names the file, column or key, and the fix."""


class SourceUnavailableError(DataError):
    """A remote source (Hugging Face Hub, scikit-learn's download) cannot be reached."""


@dataclass(frozen=True)
class TextCorpus:
    """A labelled corpus of N examples. ``labels[i]`` indexes ``label_names``; ``ids[i]`` identifies the
    document (``file:row`` for files). ``pairs[i]`` is the second text of a text-pair example (else
    None); ``split[i]`` is ``train``/``val``/``test`` where the source defines splits (else None: the
    DataModule carves a stratified split); ``meta`` holds per-example numbers such as the synthetic
    ``length``. Every list has N entries."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    ids: list[str]
    stats: dict[str, int] = field(default_factory=dict)
    pairs: list[str] | None = None
    split: list[str] | None = None
    meta: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.texts)
        if not (n == len(self.labels) == len(self.ids)):
            raise ValueError("texts, labels and ids must have the same length")
        for name, values in (("pairs", self.pairs), ("split", self.split), *self.meta.items()):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} must have one entry per text")


def label_index(raw: Sequence[Any]) -> tuple[list[int], list[str]]:
    """Map raw labels (strings or integers) to ``0..C-1``: integers in numeric order, strings sorted.

    Returns the label ids and the label names (the names are saved with the run and checkpoint).
    """
    as_int = [_int_or_none(v) for v in raw]
    if as_int and all(v is not None for v in as_int):
        names_int = sorted({v for v in as_int if v is not None})
        lookup = {v: i for i, v in enumerate(names_int)}
        return [lookup[v] for v in as_int if v is not None], [str(v) for v in names_int]
    values = [str(v).strip() for v in raw]
    names = sorted(set(values))
    lookup_str = {v: i for i, v in enumerate(names)}
    return [lookup_str[v] for v in values], names


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v.strip()):
        return int(v)
    return None
