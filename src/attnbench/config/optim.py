"""The optimizer and learning-rate schedule settings every task shares (``model.optimizer``,
``model.scheduler``)."""

from __future__ import annotations

from dataclasses import dataclass

# model.optimizer.name → its ``torch.optim`` class, by name (the schema stays free of torch). AdamW decays
# weights apart from the gradient (Loshchilov & Hutter); Adam adds weight_decay·w to the gradient (L2), as
# PyTorch's Adam and the older papers (e.g. Jain & Wallace 2019) do. Both take lr, betas, eps, weight_decay,
# amsgrad.
OPTIMIZERS = {"adamw": "AdamW", "adam": "Adam"}
SCHEDULERS = ("none", "cosine", "plateau")


@dataclass
class OptimizerConfig:
    name: str = "adamw"  # adamw (decoupled weight decay) | adam (L2 weight decay added to the gradient)
    lr: float = 2e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    amsgrad: bool = False


@dataclass
class SchedulerConfig:
    name: str = "none"  # none | cosine | plateau
    warmup_fraction: float = 0.0
    factor: float = 0.5
    patience: int = 1
