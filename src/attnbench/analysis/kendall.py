"""``kendall``: does attention rank the tokens as other importance measures do? (Jain & Wallace 2019)

Per example, Kendall τ-b (scipy) over the valid tokens between attention and gradient×input,
leave-one-out and integrated gradients, and between gradient and leave-one-out (the reference: two
importance measures that should agree). Summary per pair: mean and std of τ, the fraction of examples
with p ≤ 0.05, and the mean per predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.config.analysis import KendallConfig

SHORT = {"attention": "attn", "gradient": "grad", "loo": "loo", "ig": "ig"}


def pair_name(a: str, b: str) -> str:
    return f"{SHORT[a]}_{SHORT[b]}"


def kendall_rows(x: Tensor, y: Tensor, lengths: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """τ-b and its p-value [B] between ``x`` and ``y`` [B, T] over the first ``lengths`` [B] tokens;
    NaN where either is constant or shorter than 2 tokens."""
    xs, ys, ns = x.detach().cpu().double().numpy(), y.detach().cpu().double().numpy(), lengths.cpu().tolist()
    taus, ps = np.full(len(ns), np.nan), np.full(len(ns), np.nan)
    for i, n in enumerate(ns):  # scipy ranks one pair at a time; the model work is already batched
        if n >= 2 and np.ptp(xs[i, :n]) > 0 and np.ptp(ys[i, :n]) > 0:
            result = kendalltau(xs[i, :n], ys[i, :n])
            taus[i], ps[i] = result.statistic, result.pvalue
    return taus, ps


def summarize_tau(table: pd.DataFrame, prefix: str, alpha: float = 0.05) -> dict[str, float]:
    """Mean, std and the fraction with p ≤ ``alpha`` of column ``tau_<prefix>``, overall and per class."""
    tau, p = table[f"tau_{prefix}"], table[f"p_{prefix}"]
    out = {
        f"tau_{prefix}_mean": float(tau.mean()),
        f"tau_{prefix}_std": float(tau.std(ddof=0)),
        f"tau_{prefix}_sig": float((p <= alpha).sum() / max(int(p.notna().sum()), 1)),
    }
    for cls, part in table.groupby("predicted"):
        out[f"tau_{prefix}_mean_class{cls}"] = float(part[f"tau_{prefix}"].mean())
    return out


@dataclass
class Kendall(KendallConfig):
    """Options (``alpha``, ``pairs``): :class:`~attnbench.config.analysis.KendallConfig`."""

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        columns = {}
        for a, b in self.pairs:
            tau, p = kendall_rows(batch.ranking(a), batch.ranking(b), batch.inputs.lengths)
            columns[f"tau_{pair_name(a, b)}"], columns[f"p_{pair_name(a, b)}"] = tau, p
        return columns

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        out: dict[str, float] = {}
        for a, b in self.pairs:
            out.update(summarize_tau(table, pair_name(a, b), self.alpha))
        return out
