"""Run measurements over batches: one table per measurement (a row per example) and one summary."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from rich.progress import Progress

from attnbench.analysis.adversarial import Adversarial
from attnbench.analysis.agreement import SeedAgreement
from attnbench.analysis.context import BatchAnalysis, Settings
from attnbench.analysis.core import Explainable, Inputs
from attnbench.analysis.eraser import Eraser
from attnbench.analysis.erasure import Erasure
from attnbench.analysis.kendall import Kendall
from attnbench.analysis.permutation import Permutation
from attnbench.analysis.plots import against_max_attention
from attnbench.analysis.rationale import Rationale


class Measurement(Protocol):
    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]: ...

    def summarize(self, table: pd.DataFrame) -> dict[str, float]: ...


MEASUREMENTS: dict[str, type] = {
    "kendall": Kendall,
    "permutation": Permutation,
    "adversarial": Adversarial,
    "erasure": Erasure,
    "eraser": Eraser,
    "rationale": Rationale,
    "seed_agreement": SeedAgreement,
}


def build(name: str, options: Mapping[str, Any] | None = None, **extra: Any) -> Measurement:
    """The measurement ``name`` with ``options`` (lists become tuples, as the dataclasses declare)."""
    if name not in MEASUREMENTS:
        raise ValueError(f"analysis={name!r} is unknown; available: {sorted(MEASUREMENTS)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(options or {}).items()}
    return MEASUREMENTS[name](**kwargs, **extra)


def _identity(inputs: Inputs, classes: torch.Tensor) -> dict[str, np.ndarray]:
    b = len(inputs)
    columns = {"example": (inputs.index if inputs.index is not None else torch.full((b,), -1)).cpu().numpy()}
    if inputs.labels is not None:
        columns["label"] = inputs.labels.cpu().numpy()
    columns["predicted"], columns["length"] = classes.cpu().numpy(), inputs.lengths.cpu().numpy()
    return columns


def analyse(
    model: Explainable,
    batches: Iterable[Inputs],
    measurements: Mapping[str, Measurement],
    settings: Settings | None = None,
    max_examples: int | None = None,
    total: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Every measurement on every example of ``batches`` (at most ``max_examples``): a table per name."""
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in measurements}
    seen = 0
    bounds = [n for n in (total, max_examples) if n is not None]
    total = min(bounds) if bounds else None
    with Progress(transient=True) as progress:
        task = progress.add_task(f"analysis: {', '.join(measurements)}", total=total)
        for number, inputs in enumerate(batches):
            if max_examples is not None and seen >= max_examples:
                break
            if max_examples is not None and seen + len(inputs) > max_examples:
                inputs = inputs.head(max_examples - seen)
            batch = BatchAnalysis(model, inputs, settings or Settings(), number)
            identity = _identity(inputs, batch.classes)
            for name, measurement in measurements.items():
                parts[name].append(pd.DataFrame({**identity, **measurement.measure(batch)}))
            seen += len(inputs)
            progress.update(task, advance=len(inputs))
    return {name: pd.concat(p, ignore_index=True) if p else pd.DataFrame() for name, p in parts.items()}


def summarize(tables: Mapping[str, pd.DataFrame], measurements: Mapping[str, Measurement]) -> dict[str, float]:
    """One flat summary, keys ``analysis/<name>/<statistic>``, plus ``analysis/<name>/examples``."""
    out: dict[str, float] = {}
    for name, measurement in measurements.items():
        table = tables[name]
        out[f"analysis/{name}/examples"] = float(len(table))
        if len(table):
            out.update({f"analysis/{name}/{k}": v for k, v in measurement.summarize(table).items()})
    return out


def write(directory: str | Path, tables: Mapping[str, pd.DataFrame], summary: Mapping[str, float]) -> Path:
    """``<directory>/analysis/<name>.csv`` per measurement, ``analysis/summary.json``, and the figures of
    :mod:`attnbench.analysis.plots`."""
    out = Path(directory) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
    clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in summary.items()}
    (out / "summary.json").write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n")
    against_max_attention(dict(tables), out)
    return out
