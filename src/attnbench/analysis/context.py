"""One batch under analysis: the model's own outputs and every token ranking, each computed once and
shared by the measurements that ask for it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from attnbench.analysis.attributions import (
    attention_gradient,
    gradient_x_input,
    integrated_gradients,
    leave_one_out,
    predicted,
)
from attnbench.analysis.core import Attended, Explainable, Inputs, attention_of, seeded
from attnbench.config.analysis import RANKINGS, AnalysisConfig


@dataclass(frozen=True)
class Settings:
    """``seed`` fixes every random draw (with the batch number); ``chunk``: how many re-run sequences go
    through the model at once; ``ig_steps``: integrated gradients' path points; ``loo``: the
    leave-one-out measure (:data:`~attnbench.analysis.attributions.LOO_MEASURES`)."""

    seed: int = 0
    chunk: int = AnalysisConfig.chunk
    ig_steps: int = AnalysisConfig.ig_steps
    loo: str = AnalysisConfig.loo


def settings_of(analysis: Any, seed: int) -> Settings:
    """The :class:`Settings` of a run's ``analysis`` config node (a DictConfig or a run.json dict; None:
    the defaults), so highlighted examples measure leave-one-out as the run's analyses did."""
    if not analysis:
        return Settings(seed)
    return Settings(
        seed,
        analysis.get("chunk", AnalysisConfig.chunk),
        analysis.get("ig_steps", AnalysisConfig.ig_steps),
        analysis.get("loo", AnalysisConfig.loo),
    )


class BatchAnalysis:
    """Lazily computed views of one batch (the ``batch_number``-th of the run)."""

    def __init__(
        self, model: Explainable, inputs: Inputs, settings: Settings = Settings(), batch_number: int = 0
    ) -> None:
        self.model, self.inputs, self.settings, self.batch_number = model, inputs, settings, batch_number

    def generator(self, purpose: int) -> torch.Generator:
        """A CPU generator for one use (``purpose``: a small distinct integer per measurement)."""
        return seeded(self.settings.seed, self.batch_number, purpose)

    @cached_property
    def _predicted(self) -> tuple[Tensor, Tensor]:
        return predicted(self.model, self.inputs)

    @property
    def probs(self) -> Tensor:
        """Output distributions [B, C]."""
        return self._predicted[0]

    @property
    def classes(self) -> Tensor:
        """Predicted classes [B]."""
        return self._predicted[1]

    @cached_property
    def attended(self) -> Attended:
        with torch.no_grad():
            i = self.inputs
            return self.model.attend(self.model.embed(i.ids), i.lengths, i.mask)

    @cached_property
    def attention(self) -> Tensor:
        """The attention distribution [B, T] (rows averaged)."""
        return attention_of(self.attended.weights).float()

    @cached_property
    def gradient(self) -> Tensor:
        return gradient_x_input(self.model, self.inputs, self.classes)

    @cached_property
    def ig(self) -> Tensor:
        return integrated_gradients(self.model, self.inputs, self.classes, self.settings.ig_steps, self.settings.chunk)

    @cached_property
    def loo(self) -> Tensor:
        return leave_one_out(self.model, self.inputs, self.probs, self.classes, self.settings.chunk, self.settings.loo)

    @cached_property
    def attention_gradient(self) -> Tensor:
        return attention_gradient(self.model, self.inputs, self.classes)

    @cached_property
    def random(self) -> Tensor:
        """Random scores [B, T], a ranking with no information."""
        return torch.rand(self.inputs.ids.shape, generator=self.generator(0)).to(self.inputs.ids.device)

    def ranking(self, name: str) -> Tensor:
        """Importance scores [B, T] by ``name`` (one of :data:`RANKINGS`), higher = more important;
        integrated gradients by magnitude."""
        if name not in RANKINGS:
            raise ValueError(f"ranking {name!r} is unknown; use one of {list(RANKINGS)}")
        scores = getattr(self, name)
        return scores.abs() if name == "ig" else scores
