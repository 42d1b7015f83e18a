"""``rationale``: is the explanation *plausible*? On synthetic tasks the tokens that decide the label
are known (the needle's value token, the recalled key's value), so per example and ranking: the
share of the ranking's mass on the gold tokens (|scores| normalised; attention as it is) and the rank
(1 = top) of the best-ranked gold token, ties given their average rank. Examples without gold tokens
give NaN, and so do the ranks of a ranking whose scores all tie (uniform attention ranks nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import all_tied, undefined_where
from attnbench.config.analysis import RationaleConfig


def gold_mass(scores: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
    """Σ_gold |s| / Σ_valid |s| per example [B] (NaN without gold tokens or without mass)."""
    mass = scores.abs().float() * mask
    total, on_gold = mass.sum(1), (mass * gold).sum(1)
    ok = gold.any(1) & (total > 0)
    return torch.where(ok, on_gold / total.clamp(min=1e-30), torch.full_like(total, float("nan")))


def gold_rank(scores: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
    """The 1-based rank [B] of the highest-ranked gold token, averaged over ties (a gold token tied with
    two others for the top ranks 2); NaN without gold tokens, and where all scores tie (no ranking)."""
    values = scores.abs().float()
    best = values.masked_fill(~(gold & mask), float("-inf")).max(1, keepdim=True).values  # [B, 1]
    above = ((values > best) & mask).sum(1).float()
    level = ((values == best) & mask).sum(1).float()
    rank = above + (level + 1) / 2
    undefined = ~(gold & mask).any(1) | all_tied(values, mask)
    return undefined_where(rank, undefined)


@dataclass
class Rationale(RationaleConfig):
    """Options (``rankings`` compared with the gold tokens): :class:`~attnbench.config.analysis.RationaleConfig`."""

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        gold, mask = batch.inputs.gold, batch.inputs.mask
        if gold is None:
            raise ValueError(
                "analysis=rationale needs the tokens that decide each label; only the synthetic tasks "
                "(data=needle, data=recall) know them"
            )
        gold = gold & mask
        columns = {}
        for name in self.rankings:
            scores = batch.ranking(name)
            columns[f"mass_{name}"] = gold_mass(scores, gold, mask).cpu().numpy()
            columns[f"rank_{name}"] = gold_rank(scores, gold, mask).cpu().numpy()
        return columns

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        out = {}
        for name in self.rankings:
            rank = table[f"rank_{name}"]
            out[f"mass_{name}"] = float(table[f"mass_{name}"].mean())
            out[f"top1_{name}"] = float((rank == 1).sum() / max(int(rank.notna().sum()), 1))
            out[f"rank_{name}_mean"] = float(rank.mean())
        return out
