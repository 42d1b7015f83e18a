"""``adversarial``: is there a very different attention that gives the same output? (Jain & Wallace
2019, §4.3, their ``AdversaryMulti``.)

With the encoder states fixed, ``k`` candidate attentions per example start from log-uniform weights
plus Gaussian noise (σ = 3) and are optimised by Adam (lr 0.01, AMSGrad) for ``steps`` steps on
−JSD(candidate, original) + λ·relu(TVD(outputs) − ε) per candidate, minus the candidates' mean
pairwise JSD per example (diversity). A candidate whose output lies within ``accept`` TVD of the
original counts; the original itself always does (JSD 0). Per example: the ε-max JSD, the largest JSD
among the counted candidates (natural log, at most ln 2). Multi-row weights: each row has its own
logits, the JSD is between the rows' means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import attention_of, gradients_enabled, jsd, tvd
from attnbench.config.analysis import AdversarialConfig


@dataclass
class Adversarial(AdversarialConfig):
    """Options: :class:`~attnbench.config.analysis.AdversarialConfig`."""

    def _weights(self, logits: Tensor, mask: Tensor) -> Tensor:
        valid = mask[:, None, None, :]
        return torch.softmax(logits.masked_fill(~valid, torch.finfo(logits.dtype).min), -1) * valid

    def _loss(self, batch: BatchAnalysis, weights: Tensor, original: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Loss, and per candidate [B, K] the JSD to ``original`` [B, T] and the output TVD."""
        probs = torch.softmax(batch.model.decide(batch.attended, weights).float(), -1)  # [B, K, C]
        change = tvd(probs, batch.probs[:, None])
        attn = attention_of(weights.flatten(0, 1)).view(*weights.shape[:2], -1).float()  # [B, K, T]
        divergence = jsd(attn, original[:, None])
        diversity = jsd(attn[:, :, None], attn[:, None, :]).mean((1, 2))  # [B]
        loss = (-divergence + self.penalty * torch.relu(change - self.epsilon)).sum() - diversity.sum()
        return loss, divergence, change

    def search(self, batch: BatchAnalysis) -> tuple[Tensor, Tensor]:
        """The candidates' final JSD to the original attention and their output TVD, both [B, K]."""
        attended, mask = batch.attended, batch.inputs.mask
        b, r, t = attended.weights.shape
        uniform = mask.float() / mask.sum(1, keepdim=True).clamp(min=1)
        noise = torch.randn(b, self.k, r, t, generator=batch.generator(2)).to(mask.device)
        logits = (uniform.clamp(min=1e-30).log()[:, None, None, :] + self.noise * noise).requires_grad_(True)
        optimizer = torch.optim.Adam([logits], lr=self.lr, amsgrad=True)
        with gradients_enabled():
            for _ in range(self.steps):  # sequential by nature; every example and candidate in one batch
                loss, _, _ = self._loss(batch, self._weights(logits, mask), batch.attention)
                (logits.grad,) = torch.autograd.grad(loss, [logits])
                optimizer.step()
        with torch.no_grad():
            _, divergence, change = self._loss(batch, self._weights(logits, mask), batch.attention)
        return divergence, change

    def measure(self, batch: BatchAnalysis) -> dict[str, np.ndarray]:
        divergence, change = self.search(batch)
        counted = torch.where(change <= self.accept, divergence, torch.zeros_like(divergence))
        return {
            "emax_jsd": counted.max(1).values.cpu().numpy(),
            "accepted": (change <= self.accept).sum(1).cpu().numpy(),
            "max_attention": batch.attention.max(1).values.cpu().numpy(),
        }

    def summarize(self, table: pd.DataFrame) -> dict[str, float]:
        e = table["emax_jsd"]
        return {
            "emax_jsd_mean": float(e.mean()),
            "emax_jsd_median": float(e.median()),
            "frac_above": float((e > self.high).mean()),
        }
