"""Counting a model's parameters (the tables' ``params`` column)."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (frozen embeddings do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
