"""Alignments: how scores [B, Tq, Tk] become weights [B, Tq, Tk]. Shared by every score function.

* ``soft``: global softmax over the valid keys (Bahdanau; Luong's "global").
* ``local_m``: softmax inside the window [p − D, p + D] around a given aligned position p
  (Luong et al. 2015, local-monotonic). The aggregator chooses p per query kind (see
  :mod:`attnbench.models.pooling`); without positions, query t aligns to key t.
* ``local_p``: Luong's local-predictive: p = (L − 1)·sigmoid(v_pᵀ tanh(W_p q)) for a sequence of
  L valid keys, softmax inside [p − D, p + D], times a Gaussian exp(−(s − p)² / 2σ²) with σ = D/2.
  As in the paper the Gaussian is not renormalised, so a row sums to at most 1; p gets its gradient
  through the Gaussian. (Luong scale by the source length S; we use L − 1 so p lies on a valid key.)
* ``hard``: one position per query. Training: ``gumbel`` = straight-through Gumbel-softmax (one-hot
  forward, soft gradient), or ``reinforce`` = sample from the soft distribution, no gradient through
  the weights; the sampled positions' log-probability goes to the loss (see ``log_prob``).
  Evaluation: argmax, deterministic.

Every alignment gives masked keys exactly zero weight and a row without a valid key all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnbench.config.schema import AttentionConfig


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis that gives masked keys exactly zero weight.

    ``scores``: [B, Tq, Tk]; ``mask``: [B, Tk] or [B, Tq, Tk], True where a key is valid.
    A row with no valid key yields zeros, never NaN (and zero gradient).
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    if mask.dim() == 2:
        mask = mask[:, None, :]
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * mask.to(scores.dtype)


ALIGNMENTS = ("soft", "local_m", "local_p", "hard")
HARD_ESTIMATORS = ("gumbel", "reinforce")


@dataclass
class Aligned:
    """``weights``: [B, Tq, Tk]; ``log_prob``: [B, Tq], the log-probability of the position each query
    sampled with ``hard`` + ``reinforce`` in training (0 for a row without valid key; None otherwise);
    ``centres``: [B, Tq] window centres of the local alignments (None otherwise), for tests and plots."""

    weights: Tensor
    log_prob: Tensor | None = None
    centres: Tensor | None = None


class Alignment(nn.Module):
    """Turns scores into weights. ``forward(scores [B, Tq, Tk], query [B, Tq, Dq], mask [B, Tk] | None,
    positions [B, Tq] | None) -> Aligned``.

    ``query_dim`` and ``hidden_size`` size local_p's position predictor; ``window`` is D; ``temperature``
    is the Gumbel-softmax τ.
    """

    def __init__(
        self,
        kind: str = AttentionConfig.alignment,
        query_dim: int = 0,
        hidden_size: int = AttentionConfig.hidden_size,
        window: int = AttentionConfig.window,
        hard_estimator: str = AttentionConfig.hard_estimator,
        temperature: float = AttentionConfig.temperature,
    ) -> None:
        super().__init__()
        if kind not in ALIGNMENTS:
            raise ValueError(f"attention.alignment={kind!r} is not available; available: {list(ALIGNMENTS)}")
        if hard_estimator not in HARD_ESTIMATORS:
            raise ValueError(f"attention.hard_estimator={hard_estimator!r}; use one of {list(HARD_ESTIMATORS)}")
        if kind.startswith("local") and window < 0:
            raise ValueError(f"attention.window={window} must be >= 0 (the half-width D of the local window)")
        self.kind, self.window, self.hard_estimator, self.temperature = kind, window, hard_estimator, temperature
        if kind == "local_p":
            if query_dim < 1:
                raise ValueError("local_p needs the query dimension to predict the aligned position")
            self.predict = nn.Sequential(
                nn.Linear(query_dim, hidden_size, bias=False), nn.Tanh(), nn.Linear(hidden_size, 1, bias=False)
            )

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, window={self.window}, hard_estimator={self.hard_estimator!r}"

    def forward(
        self, scores: Tensor, query: Tensor, mask: Tensor | None = None, positions: Tensor | None = None
    ) -> Aligned:
        b, tq, tk = scores.shape
        if mask is None:
            mask = torch.ones(b, tk, dtype=torch.bool, device=scores.device)
        if self.kind == "soft":
            return Aligned(masked_softmax(scores, mask))
        if self.kind == "hard":
            return self._hard(scores, mask)
        # Positions, centres and distances in at least float32 whatever the scores' dtype: bf16 holds
        # integers exactly only up to 256, so at T = 400 a bf16 window around key 301 would land on 298-302.
        exact = torch.promote_types(scores.dtype, torch.float32)  # float64 stays float64 (gradcheck)
        keys_at = torch.arange(tk, device=scores.device, dtype=exact)  # [Tk]
        if self.kind == "local_m":
            if positions is None:  # Luong's monotonic case: target step t aligns to source step t
                positions = torch.arange(tq, device=scores.device).expand(b, tq)
            centres = positions.to(exact)
        else:
            last = (mask.sum(-1, keepdim=True) - 1).clamp(min=0).to(exact)  # [B, 1]: L − 1
            centres = last * torch.sigmoid(self.predict(query).squeeze(-1).to(exact))  # [B, Tq]
        distance = keys_at[None, None, :] - centres[..., None]  # [B, Tq, Tk]
        in_window = distance.abs() <= self.window
        weights = masked_softmax(scores, in_window & mask[:, None, :])
        if self.kind == "local_p":
            sigma = self.window / 2
            if sigma > 0:
                weights = weights * torch.exp(-(distance**2) / (2 * sigma**2)).to(weights.dtype)
        return Aligned(weights, centres=centres)

    def _hard(self, scores: Tensor, mask: Tensor) -> Aligned:
        mask3 = mask[:, None, :].expand_as(scores)
        valid_row = mask3.any(-1, keepdim=True).to(scores.dtype)  # [B, Tq, 1]
        masked = scores.masked_fill(~mask3, torch.finfo(scores.dtype).min)
        if not self.training:
            one_hot = nn.functional.one_hot(masked.argmax(-1), scores.shape[-1]).to(scores.dtype)
            return Aligned(one_hot * valid_row)
        if self.hard_estimator == "gumbel":
            # Straight-through Gumbel-softmax (Jang et al. 2017): forward one-hot, backward soft.
            gumbel = -torch.empty_like(scores).exponential_().log()
            soft = masked_softmax((scores + gumbel) / self.temperature, mask)
            one_hot = nn.functional.one_hot(soft.argmax(-1), scores.shape[-1]).to(scores.dtype)
            return Aligned((one_hot - soft.detach() + soft) * valid_row)
        # REINFORCE (Williams 1992): sample, no gradient through the weights; log π goes to the loss.
        probs = masked_softmax(scores, mask)
        safe = torch.where(valid_row.bool(), probs, torch.ones_like(probs))  # any distribution for empty rows
        picked = torch.multinomial(safe.detach().flatten(0, 1), 1).view(scores.shape[:2])  # [B, Tq]
        log_p = torch.log_softmax(masked, -1).gather(-1, picked[..., None]).squeeze(-1)  # [B, Tq]
        log_prob = log_p * valid_row.squeeze(-1)
        one_hot = nn.functional.one_hot(picked, scores.shape[-1]).to(scores.dtype)
        return Aligned(one_hot * valid_row, log_prob=log_prob)
