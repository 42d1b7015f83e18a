"""One analysis of one trained classifier: the test batches in, the tables and the summary out.

The glue between a run (a model, a test DataLoader of :class:`~attnbench.data.batching.TextBatch`, the
split's per-example metadata) and the measurements; it knows nothing of Hydra or checkpoints.
``options`` is the ``analysis`` config node: the chosen measurements by name, each with its options,
plus the settings in :data:`SETTINGS`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.analysis.adapter import explainer
from attnbench.analysis.context import Settings
from attnbench.analysis.core import Explainable, Inputs
from attnbench.analysis.runner import MEASUREMENTS, Measurement, analyse, build, summarize, write
from attnbench.data.batching import TextBatch

# settings of the whole analysis (the rest of the ``analysis`` node names measurements)
SETTINGS = ("max_examples", "chunk", "ig_steps", "seed", "device", "run_dir")


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


def inputs_of(batches: Iterable[TextBatch], gold: Tensor | None, device: torch.device) -> Iterator[Inputs]:
    """:class:`Inputs` on ``device`` for each batch; ``gold``: the split's gold positions [N] or None."""
    for b in batches:
        if b.is_pair:
            raise ValueError("the analyses take single-text data; text pairs are not analysable yet")
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


def device_of(option: str | None) -> torch.device:
    """``auto`` (or None): CUDA when there is one, else the CPU."""
    if option in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(option)


def analyse_run(
    model: nn.Module,
    batches: Iterable[TextBatch],
    options: Mapping[str, Any],
    out_dir: str | Path,
    gold: Tensor | None = None,
    others: list[nn.Module] | None = None,
    total: int | None = None,
) -> dict[str, float]:
    """Run the measurements ``options`` chooses on ``model`` over ``batches``, write
    ``<out_dir>/analysis/<name>.csv`` and ``summary.json``, and return the summary
    (``analysis/<name>/<statistic>``, plus ``analysis/seconds``)."""
    start = time.perf_counter()
    device = device_of(options.get("device"))
    wrapped = explainer(model.to(device).eval())
    chosen_ones = measurements(options, [explainer(m.to(device).eval()) for m in others or []])
    settings = Settings(
        seed=int(options.get("seed") or 0),
        chunk=int(options.get("chunk") or 256),
        ig_steps=int(options.get("ig_steps") or 50),
    )
    tables = analyse(
        wrapped, inputs_of(batches, gold, device), chosen_ones, settings, options.get("max_examples"), total
    )
    summary = summarize(tables, chosen_ones)
    summary["analysis/seconds"] = round(time.perf_counter() - start, 3)
    write(out_dir, tables, summary)
    return summary
