"""``seed_agreement`` (Wiegreffe & Pinter 2019, §4): how different are the attentions of the same
configuration trained with other seeds? W&P's baseline for "how different is different". Per example,
averaged over every pair of the models: the JSD between their attention distributions and the TVD
between their output distributions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import Explainable, attention_of, jsd, probabilities, tvd
from attnbench.config.analysis import SeedAgreementConfig


def views(model: Explainable, batch: BatchAnalysis) -> tuple[Tensor, Tensor]:
    """Attention [B, T] and output distribution [B, C] of ``model`` on the batch's inputs."""
    i = batch.inputs
    with torch.no_grad():
        attention = attention_of(model.attend(model.embed(i.ids), i.lengths, i.mask).weights).float()
    return attention, probabilities(model, i.ids, i.lengths, chunk=len(i))


@dataclass
class SeedAgreement(SeedAgreementConfig):
    """``others``: the models of ``ckpt_paths`` (:class:`~attnbench.config.analysis.SeedAgreementConfig`),
    the same configuration trained with other seeds; at least one."""

    others: list[Explainable] = field(default_factory=list)

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        if not self.others:
            raise ValueError(
                "analysis=seed_agreement needs analysis.seed_agreement.ckpt_paths: checkpoints of "
                "the same configuration trained with other seeds"
            )
        seen = [(batch.attention, batch.probs)] + [views(m, batch) for m in self.others]
        pairs = list(combinations(seen, 2))
        attention = torch.stack([jsd(a[0], b[0]) for a, b in pairs]).mean(0)
        output = torch.stack([tvd(a[1], b[1]) for a, b in pairs]).mean(0)
        return {"jsd_attention": attention.cpu().numpy(), "tvd_output": output.cpu().numpy()}

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        return {
            "jsd_attention_mean": float(table["jsd_attention"].mean()),
            "jsd_attention_median": float(table["jsd_attention"].median()),
            "tvd_output_mean": float(table["tvd_output"].mean()),
        }
