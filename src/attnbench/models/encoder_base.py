"""What every encoder returns (:class:`EncoderOutput`), the helpers they share, and the one way a reader
(a picture, an analysis) gets at the weights of an encoder that attends inside (:func:`capture_encoder_weights`).

Kept apart from :mod:`attnbench.models.encoders` so the encoders in their own files (LSTMN, Transformer)
and the registry there import it without a loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class EncoderOutput:
    """``states``: [B, T, D], zero at padding. ``final``: [B, D], a whole-sequence summary.
    ``weights``: [B, R, T, T] or None: the intra-attention of an encoder that attends while it reads
    (LSTMN), one row block per layer and direction (R = layers × directions, layer-major, forward first);
    row t holds the weights position t gave to the positions read before it, in that direction's reading
    order (lower-triangular; the backward direction's rows and columns run over the sequence reversed
    within its length), zero outside each sequence's length."""

    states: Tensor
    final: Tensor
    weights: Tensor | None = None


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of ``x`` [B, T, ...] within its own length; padding stays at the end."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    idx = torch.where(t < lengths, lengths - 1 - t, t)  # [B, T]
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


def last_valid(states: Tensor, lengths: Tensor) -> Tensor:
    """``states[b, lengths[b] - 1]`` for each b: [B, T, D] → [B, D]."""
    idx = (lengths.to(states.device) - 1).clamp(min=0)
    return states[torch.arange(states.shape[0], device=states.device), idx]


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` [B, T, ...] over the positions where ``mask`` [B, T] is True (zeros if none)."""
    m = mask.to(x.dtype).view(*mask.shape, *([1] * (x.dim() - 2)))
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


@dataclass
class IntraAttention:
    """What :func:`capture_encoder_weights` collects from one encoder call: ``weights`` [B, R, T, T]
    (:class:`EncoderOutput`), and ``directions`` (1 or 2) to name the R = layers × directions blocks."""

    weights: Tensor
    directions: int


@contextmanager
def capture_encoder_weights(model: nn.Module) -> Iterator[list[IntraAttention]]:
    """While the block runs, collect (detached) the ``weights`` of every call of an encoder inside
    ``model`` that returns them (class attribute ``returns_weights``), in call order (a text pair: the
    first text's first). A forward hook, so a classifier or task passes nothing on and a reader needs no
    change to them; the list stays empty for encoders without intra-attention."""
    captured: list[IntraAttention] = []

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, EncoderOutput) and output.weights is not None:
            captured.append(IntraAttention(output.weights.detach(), int(getattr(module, "directions", 1))))

    handles = [m.register_forward_hook(hook) for m in model.modules() if getattr(m, "returns_weights", False)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()
