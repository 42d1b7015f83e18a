"""``eraser``: comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER) of each token ranking.

For a ranking and a bin of k% the top ⌈k%·L⌉ tokens (at least one) are the rationale. Comprehensiveness:
p(ŷ | x) − p(ŷ | x without the rationale), high when the rationale mattered; sufficiency:
p(ŷ | x) − p(ŷ | the rationale alone), low when it suffices. Tokens are deleted (the sequence closes
up) and every variant of a batch runs through the model as one batch. Per example and ranking, the
AOPC: the mean over the bins. Rankings: attention, gradient×input, |integrated gradients|,
leave-one-out, random. Tied scores enter the rationale in random order (not token order); an example
whose scores all tie (uniform attention) has no rationale: NaN, left out of the means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import all_tied, keep_tokens, probabilities, top_k_mask, undefined_where
from attnbench.config.analysis import EraserConfig


def rationale_sizes(lengths: Tensor, bins: tuple[float, ...]) -> Tensor:
    """Tokens in the rationale [B, len(bins)]: ⌈bin·L⌉, at least 1, at most L."""
    fractions = torch.tensor(bins, device=lengths.device, dtype=torch.float64)
    k = torch.ceil(fractions[None, :] * lengths[:, None].double() - 1e-9).long()
    return torch.minimum(k.clamp(min=1), lengths[:, None])


def aopc(batch: BatchAnalysis, scores: Tensor, bins: tuple[float, ...]) -> tuple[Tensor, Tensor]:
    """Comprehensiveness and sufficiency AOPC [B] of the ranking ``scores`` [B, T]."""
    inputs = batch.inputs
    sizes = rationale_sizes(inputs.lengths, bins)  # [B, N]
    b, n = sizes.shape
    tiebreak = batch.random  # ties in random order, not token order
    rationale = torch.stack([top_k_mask(scores, inputs.mask, sizes[:, j], tiebreak) for j in range(n)], 1)  # [B, N, T]
    keep = torch.cat([~rationale & inputs.mask[:, None], rationale], 1).flatten(0, 1)  # [B·2N, T]
    ids, lengths = keep_tokens(inputs.ids.repeat_interleave(2 * n, 0), keep)
    probs = probabilities(batch.model, ids, lengths, batch.settings.chunk).view(b, 2 * n, -1)
    picked = probs.gather(-1, batch.classes[:, None, None].expand(b, 2 * n, 1)).squeeze(-1)
    drop = batch.probs.gather(-1, batch.classes[:, None]) - picked  # [B, 2N]
    undefined = all_tied(scores, inputs.mask)  # an all-tied ranking has no top k%
    return undefined_where(drop[:, :n].mean(1), undefined), undefined_where(drop[:, n:].mean(1), undefined)


@dataclass
class Eraser(EraserConfig):
    """Options (``bins``: fractions of the tokens, ``rankings``): :class:`~attnbench.config.analysis.EraserConfig`."""

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        columns = {}
        for name in self.rankings:
            comp, suff = aopc(batch, batch.ranking(name), tuple(self.bins))
            columns[f"comprehensiveness_{name}"] = comp.cpu().numpy()
            columns[f"sufficiency_{name}"] = suff.cpu().numpy()
        return columns

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        out = {}
        for name in self.rankings:
            for kind in ("comprehensiveness", "sufficiency"):
                out[f"{kind}_{name}"] = float(table[f"{kind}_{name}"].mean())  # NaN (all tied) skipped
        return out
