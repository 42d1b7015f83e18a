"""Figures of one analysed run: J&W's scatter of the output change under permuted attention (and the
ε-max JSD of the adversary) against the example's largest attention weight."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the study report imports FIGURES without loading pandas
    import pandas as pd

FIGURES = {  # table → (y column, y label, file)
    "permutation": ("median_tvd", "median output TVD under permutation", "permutation.png"),
    "adversarial": ("emax_jsd", "ε-max JSD of an adversarial attention", "adversarial.png"),
}


def against_max_attention(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """One scatter per table in :data:`FIGURES` (x: max attention, colour: predicted class); the paths."""
    import matplotlib  # loaded only when a figure is drawn, without a display (as attnbench.reporting.plots)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, (column, label, file) in FIGURES.items():
        table = tables.get(name)
        if table is None or table.empty:
            continue
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
        points = ax.scatter(table["max_attention"], table[column], c=table["predicted"], s=8, cmap="tab10", alpha=0.7)
        ax.set(xlabel="max attention weight", ylabel=label, xlim=(0, 1.02))
        fig.colorbar(points, ax=ax, label="predicted class")
        fig.tight_layout()
        fig.savefig(out / file, dpi=120)
        plt.close(fig)
        written.append(out / file)
    return written
