"""Parallel text as the sequence-to-sequence data module reads it, and the checks its settings share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attnbench.data.corpus import DataError

__all__ = ["DataError", "PairCorpus", "check_positive_ints", "check_unknown_keys"]


@dataclass
class PairCorpus:
    """``sources[i]`` → ``targets[i]``; ``ids`` name each pair (``split/L<length>/<i>`` or
    ``file:line``); ``split``: train/val/test per pair, or None (then split at random, seeded);
    ``lengths``: the length axis value per pair (symbols, pairs, list items; None: measured in source
    tokens by the data module); ``stats``: numbers for the data summary."""

    sources: list[str]
    targets: list[str]
    ids: list[str]
    split: list[str] | None = None
    lengths: list[int] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sources)


def check_unknown_keys(cfg: dict[str, Any], accepted: dict[str, Any], prefix: str) -> None:
    """A :class:`DataError` naming the first key of ``cfg`` not in ``accepted`` and the accepted ones."""
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        raise DataError(f"{prefix}.{unknown[0]} is not a setting here; accepted: {', '.join(accepted)}")


def check_positive_ints(cfg: dict[str, Any], keys: tuple[str, ...], prefix: str) -> None:
    """A :class:`DataError` unless every ``cfg[key]`` is an integer >= 1."""
    for key in keys:
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"{prefix}.{key}={value!r} must be an integer >= 1")
