"""One analysis of one trained classifier: the test batches in, the tables and the summary out.

The glue between a run (a model, the test split's :class:`~attnbench.data.batching.EncodedTexts` and
its per-example metadata) and the measurements; it knows nothing of Hydra or checkpoints.
``options`` is the ``analysis`` config node: the chosen measurements by name, each with its options,
plus the settings in :data:`SETTINGS`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.analysis.adapter import explainer
from attnbench.analysis.attributions import LOO_MEASURES
from attnbench.analysis.context import Settings
from attnbench.analysis.core import Explainable, Inputs, seeded
from attnbench.analysis.runner import MEASUREMENTS, Measurement, analyse, build, summarize, write
from attnbench.config.analysis import AnalysisConfig
from attnbench.data.batching import EncodedTexts, collate

# settings of the whole analysis (the rest of the ``analysis`` node names measurements)
SETTINGS = tuple(f.name for f in fields(AnalysisConfig) if f.name not in MEASUREMENTS)


def chosen(options: Mapping[str, Any]) -> list[str]:
    """The measurements named in ``options``, in the order of :data:`MEASUREMENTS`."""
    unknown = sorted(set(options) - set(MEASUREMENTS) - set(SETTINGS))
    if unknown:
        raise ValueError(
            f"analysis.{unknown[0]} is not a measurement or setting; measurements: "
            f"{sorted(MEASUREMENTS)}, settings: {list(SETTINGS)}"
        )
    return [name for name in MEASUREMENTS if options.get(name) is not None]


def gold_mask(positions: Tensor | None, index: Tensor, width: int) -> Tensor | None:
    """The gold-token mask [B, width] from the split's gold positions (−1: none) at ``index`` [B]."""
    if positions is None:
        return None
    pos = positions[index.cpu()]
    return torch.arange(width)[None, :] == pos[:, None]


def selection(lengths: list[int], max_examples: int | None, seed: int) -> list[int]:
    """The examples analysed: all, or ``max_examples`` drawn at random (fixed by ``seed``); longest first,
    so batches hold sequences of similar length."""
    chosen_ones = list(range(len(lengths)))
    if max_examples is not None and max_examples < len(lengths):
        chosen_ones = torch.randperm(len(lengths), generator=seeded(seed, -1))[:max_examples].tolist()
    return sorted(chosen_ones, key=lambda i: (-lengths[i], i))


def batches_of(
    dataset: EncodedTexts, indices: list[int], batch_size: int, gold: Tensor | None, device: torch.device
) -> Iterator[Inputs]:
    """:class:`Inputs` on ``device`` for ``indices`` of ``dataset``, ``batch_size`` at a time; ``gold``: the
    split's gold positions [N] (−1: none) or None."""
    if dataset.pair_ids is not None:
        raise ValueError("the analyses take single-text data; text pairs are not analysable yet")
    for start in range(0, len(indices), batch_size):
        b = collate([dataset[i] for i in indices[start : start + batch_size]])
        mask = gold_mask(gold, b.index, b.ids.shape[1])
        yield Inputs(
            b.ids.to(device), b.lengths.to(device), None if mask is None else mask.to(device), b.index, b.labels
        )


def measurements(options: Mapping[str, Any], others: list[Explainable]) -> dict[str, Measurement]:
    """The chosen measurements built from their options (``seed_agreement`` gets ``others``)."""
    out = {}
    for name in chosen(options):
        given = dict(options[name] or {})
        extra = {"others": others} if name == "seed_agreement" else {}
        given.pop("ckpt_paths", None)  # seed_agreement's checkpoints arrive loaded, as ``others``
        out[name] = build(name, given, **extra)
    return out


def settings_of(options: Mapping[str, Any]) -> AnalysisConfig:
    """The settings in ``options``, the schema's defaults for those not given (seed: 0)."""
    settings = AnalysisConfig(**{"seed": 0, **{k: v for k, v in options.items() if k in SETTINGS}})
    if settings.loo not in LOO_MEASURES:  # before any work
        raise ValueError(
            f"analysis.loo={settings.loo!r} is not a leave-one-out measure; use one of {list(LOO_MEASURES)}"
        )
    return settings


def device_of(option: str) -> torch.device:
    """``auto`` (or None): CUDA when there is one, else the CPU."""
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(option)


def analyse_run(
    model: nn.Module,
    dataset: EncodedTexts,
    options: Mapping[str, Any],
    out_dir: str | Path,
    gold: Tensor | None = None,
    others: list[nn.Module] | None = None,
) -> dict[str, float]:
    """Run the measurements ``options`` chooses on ``model`` over ``dataset`` (a test split), write
    ``<out_dir>/analysis/<name>.csv`` (rows by example) and ``summary.json``, and return the summary
    (``analysis/<name>/<statistic>``, plus ``analysis/seconds``)."""
    start = time.perf_counter()
    chosen_ones = measurements(options, [])  # checks the names before any work
    given = settings_of(options)
    device = device_of(given.device)
    wrapped = explainer(model.to(device).eval())
    if others:
        chosen_ones = measurements(options, [explainer(m.to(device).eval()) for m in others])
    settings = Settings(seed=int(given.seed), chunk=given.chunk, ig_steps=given.ig_steps, loo=given.loo)
    indices = selection(dataset.text_lengths, given.max_examples, settings.seed)
    batches = batches_of(dataset, indices, given.batch_size, gold, device)
    tables = analyse(wrapped, batches, chosen_ones, settings, total=len(indices))
    tables = {name: t.sort_values("example", kind="stable").reset_index(drop=True) for name, t in tables.items()}
    summary = summarize(tables, chosen_ones)
    summary["analysis/seconds"] = round(time.perf_counter() - start, 3)
    write(out_dir, tables, summary)
    return summary
