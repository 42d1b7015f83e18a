"""``erasure`` (Serrano & Smith 2019, "Is Attention Interpretable?"): erase attention weights, keep the
encoder states, renormalise, and see when the decision flips.

Per example: does zeroing the top attention weight flip the decision, and does zeroing one random other
weight; the JSD between the output distributions in each case; and the fraction of the tokens that must
be zeroed, in the order of attention, of the gradient of the decision w.r.t. the attention weights, or
at random, before the decision first flips (NaN where it never does with at least one token left).
A row whose remaining weights are all zero (hard attention) becomes uniform over the remaining tokens.
Tied scores are erased in random order, not token order; a ranking whose scores all tie (uniform
attention) has no top token and no order: its ``flip_top``/``jsd_top`` and ``frac_to_flip`` are NaN
(``tied_<order>`` = 1) and left out of the summary, ``never_flips`` included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import all_tied, jsd, rank_order, undefined_where
from attnbench.config.analysis import ErasureConfig

ORDERS = {"attention": "attention", "gradient": "attention_gradient", "random": "random"}


def erase(weights: Tensor, remove: Tensor, mask: Tensor) -> Tensor:
    """``weights`` [B, R, T] with the tokens ``remove`` [B, V, T] zeroed and each row renormalised to
    its original mass → [B, V, R, T]. ``mask`` [B, T]: the valid tokens."""
    keep = (~remove & mask[:, None, :])[:, :, None, :].to(weights.dtype)  # [B, V, 1, T]
    kept = weights[:, None] * keep
    old, new = weights.sum(-1)[:, None, :, None], kept.sum(-1, keepdim=True)
    uniform = keep / keep.sum(-1, keepdim=True).clamp(min=1)
    return torch.where(new > 0, kept / new.clamp(min=1e-30), uniform) * old


def _decide(batch: BatchAnalysis, remove: Tensor) -> Tensor:
    """Output distributions [B, V, C] with the tokens ``remove`` [B, V, T] erased from attention."""
    weights = erase(batch.attended.weights, remove, batch.inputs.mask)
    return torch.softmax(batch.model.decide(batch.attended, weights).float(), -1)


def first_flip(batch: BatchAnalysis, scores: Tensor) -> Tensor:
    """Fraction [B] of the tokens erased, highest ``scores`` [B, T] first, at the first flip (NaN: none)."""
    mask, lengths = batch.inputs.mask, batch.inputs.lengths
    b, t = mask.shape
    order = rank_order(scores, mask, batch.random)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(t, device=mask.device).expand(b, t))
    flips, chunk = [], max(1, batch.settings.chunk // b)
    with torch.no_grad():
        for start in range(1, t, chunk):  # erase the top k, for k = 1 .. T - 1
            k = torch.arange(start, min(start + chunk, t), device=mask.device)  # [V]
            remove = rank[:, None, :] < k[None, :, None]  # [B, V, T]
            flips.append(_decide(batch, remove).argmax(-1) != batch.classes[:, None])
    if not flips:
        return torch.full((b,), float("nan"), device=mask.device)
    k = torch.arange(1, t, device=mask.device)
    flipped = torch.cat(flips, 1) & (k[None, :] < lengths[:, None])  # at least one token stays
    first = torch.where(flipped, k[None, :], t + 1).min(1).values
    frac = torch.where(
        first <= t, first / lengths.clamp(min=1), torch.full_like(first, float("nan"), dtype=torch.float)
    )
    return undefined_where(frac, all_tied(scores, mask))


@dataclass
class Erasure(ErasureConfig):
    """Options (``orders``: the rankings erased in order): :class:`~attnbench.config.analysis.ErasureConfig`."""

    def _single(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        mask, attention = batch.inputs.mask, batch.attention
        top = rank_order(attention, mask, batch.random)[:, 0]
        tied = all_tied(attention, mask)  # no top token
        others = batch.random.masked_fill(~mask, -1.0)
        others[torch.arange(len(top)), top] = -1.0
        other = others.argmax(1)  # a random valid token other than the top one
        positions = torch.stack([top, other], 1)  # [B, 2]
        remove = torch.nn.functional.one_hot(positions, mask.shape[1]).bool()  # [B, 2, T]
        with torch.no_grad():
            probs = _decide(batch, remove)
        flips = (probs.argmax(-1) != batch.classes[:, None]).float()
        change = jsd(probs, batch.probs[:, None])
        has_other = batch.inputs.lengths >= 2
        nan = torch.full_like(change[:, 1], float("nan"))
        return {
            "flip_top": undefined_where(flips[:, 0], tied).cpu().numpy(),
            "jsd_top": undefined_where(change[:, 0], tied).cpu().numpy(),
            "flip_random": torch.where(has_other, flips[:, 1], nan).cpu().numpy(),
            "jsd_random": torch.where(has_other, change[:, 1], nan).cpu().numpy(),
        }

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        columns = self._single(batch)
        for name in self.orders:
            scores = getattr(batch, ORDERS[name])
            columns[f"frac_to_flip_{name}"] = first_flip(batch, scores).cpu().numpy()
            columns[f"tied_{name}"] = all_tied(scores, batch.inputs.mask).float().cpu().numpy()
        return columns

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        out = {
            "flip_top": float(table["flip_top"].mean()),
            "flip_random": float(table["flip_random"].mean()),
            "jsd_top_mean": float(table["jsd_top"].mean()),
            "jsd_random_mean": float(table["jsd_random"].mean()),
        }
        for name in self.orders:
            frac, ranked = table[f"frac_to_flip_{name}"], table[f"tied_{name}"] == 0
            out[f"frac_to_flip_{name}_median"] = float(frac.median())
            never = (frac.isna() & ranked).sum() / ranked.sum() if ranked.any() else float("nan")
            out[f"never_flips_{name}"] = float(never)
        return out
