"""What a report needs to know of a study: the table's shape and the jobs it expects.

Reporting reads a study through these protocols, so it never imports ``attnbench.studies`` (which
imports reporting to write its results): ``attnbench.studies.study_file.Study`` satisfies them, and so
would any other object with the same attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class JobSpec(Protocol):
    """One run the study expects: its variant (row id), its grid cell and the directory it writes."""

    variant: str
    seed: int
    cell: dict[str, Any]

    @property
    def dir_name(self) -> str: ...


class StudySpec(Protocol):
    """A study as a report reads it (the fields of ``experiments/<name>.yaml`` after checking)."""

    name: str
    path: Path
    title: str | None
    description: str
    question: str
    seeds: list[int]
    grid: dict[str, list[Any]]
    columns: str | None  # a grid key whose values are the columns, or None: the metrics are
    metrics: list[str]
    extra: list[str]
    baseline: str | None
    labels: dict[str, str]  # metric key → the column's label in this study's table (else the registry's)
    directions: dict[str, str]  # metric key → higher | lower | none (else the registry's)
    plots: list[str]
    published: dict[str, Any] | None

    def rows(self) -> list[tuple[str, str]]:
        """(row id, label) of every variant, in the study file's order."""
        ...

    def expected_jobs(self) -> Sequence[JobSpec]: ...
