"""``permutation``: keep the encoder states, shuffle the attention weights over the valid tokens, and
see whether the output moves (Jain & Wallace 2019, §4.2). Per example: the median over ``n_perm``
permutations of the total variation distance between the output distributions, and the example's
largest attention weight (J&W plot one against the other). Summary: the median of the medians and the
fraction of examples below ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import tvd
from attnbench.config.analysis import PermutationConfig


def permutations(mask: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` random permutations per example of its valid positions: indices [B, n, T] with padding
    positions mapped to themselves. ``mask``: [B, T]."""
    b, t = mask.shape
    keys = torch.rand(b, n, t, generator=generator).to(mask.device)
    position = torch.arange(t, device=mask.device, dtype=keys.dtype)
    keys = torch.where(mask[:, None, :], keys, 2.0 + position)  # padding sorts last, in order
    return keys.argsort(-1)


def permuted(weights: Tensor, index: Tensor) -> Tensor:
    """``weights`` [B, R, T] gathered along T by ``index`` [B, V, T], every row alike → [B, V, R, T]."""
    b, r, t = weights.shape
    v = index.shape[1]
    return weights[:, None].expand(b, v, r, t).gather(-1, index[:, :, None, :].expand(b, v, r, t))


@dataclass
class Permutation(PermutationConfig):
    """Options (``n_perm``, ``threshold``): :class:`~attnbench.config.analysis.PermutationConfig`."""

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        attended = batch.attended
        index = permutations(attended.mask, self.n_perm, batch.generator(1))
        deltas, step = [], max(1, batch.settings.chunk // len(batch.inputs))
        with torch.no_grad():
            for start in range(0, self.n_perm, step):
                weights = permuted(attended.weights, index[:, start : start + step])
                probs = torch.softmax(batch.model.decide(attended, weights).float(), -1)  # [B, V, C]
                deltas.append(tvd(probs, batch.probs[:, None]))
        median = torch.cat(deltas, 1).quantile(0.5, dim=1)  # the mean of the middle two when n is even
        return {"median_tvd": median.cpu().numpy(), "max_attention": batch.attention.max(1).values.cpu().numpy()}

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        median = table["median_tvd"]
        return {"median_tvd": float(median.median()), "frac_below": float((median < self.threshold).mean())}
