"""Guards against results that only look like results: a training loss that went non-finite stops the
run (:class:`StopOnNonFiniteLoss`), a non-finite evaluation metric fails it (:func:`check_finite_metrics`),
and the optimizer settings a fit really used go into ``run.json`` (:class:`RecordOptimizer`).

Checking a loss costs a device-to-host read. On the CPU that read is free, so every step is checked at
once. On an accelerator a per-step ``.item()`` would make every step wait for the device (the per-step
host overhead kept low elsewhere), so the finite flag is copied to the host without blocking, with a
CUDA event, and read when the event says the copy is done: a few steps later at most, never with a
wait, and the error still names the step whose loss went non-finite.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import pytorch_lightning as pl
import torch

FIX = (
    "Fix: a lower learning rate (model.optimizer.lr=...), gradient clipping (trainer.gradient_clip_val=1.0), "
    "or allow_nonfinite_loss=true to keep training through it (for studying divergence)."
)


class DivergenceError(RuntimeError):
    """The training loss (or an evaluation metric) is not finite."""


def _loss_of(outputs: Any) -> torch.Tensor | None:
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    return loss.detach() if isinstance(loss, torch.Tensor) else None


class StopOnNonFiniteLoss(pl.Callback):
    """Raise :class:`DivergenceError` (the run fails, exit code 1) when a training step's loss is NaN or
    infinite, naming the step, the loss and the fix."""

    def __init__(self) -> None:
        # accelerator only: (where, host copy of [finite flag, loss], event marking the copy done)
        self._pending: deque[tuple[str, torch.Tensor, torch.cuda.Event]] = deque()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = _loss_of(outputs)
        if loss is None:
            return
        # global_step already counts this batch's optimizer step: the step that computed the loss is one less
        step = f"step {max(trainer.global_step - 1, 0)} (epoch {trainer.current_epoch}, batch {batch_idx})"
        if loss.device.type != "cuda":  # host memory already (CPU) or no async copy: check now
            if not bool(torch.isfinite(loss).all()):
                self._fail(step, float(loss.float().mean()))
            return
        pair = torch.stack([torch.isfinite(loss).all().float(), loss.float().mean()])
        host = torch.empty(2, pin_memory=True)
        host.copy_(pair, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending.append((step, host, event))
        self._check_done(wait=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check_done(wait=True)  # the epoch's metrics are read to the host here anyway

    def _check_done(self, wait: bool) -> None:
        while self._pending and (wait or self._pending[0][2].query()):
            step, host, event = self._pending.popleft()
            event.synchronize()
            if host[0].item() < 1.0:
                self._fail(step, host[1].item())

    @staticmethod
    def _fail(step: str, loss: float) -> None:
        raise DivergenceError(f"the training loss is {loss} at {step}: the run diverged. {FIX}")


def check_finite_metrics(metrics: dict[str, float]) -> None:
    """Raise :class:`DivergenceError` naming the metrics of a finished run that are not finite: such a
    value is an error in the record, never a number in a table."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        raise DivergenceError(
            "non-finite evaluation metrics " + ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
            + f" (the model diverged or predicts nothing finite). {FIX}"
        )  # fmt: skip


class RecordOptimizer(pl.Callback):
    """The optimizer settings the fit starts with, after any checkpoint was restored (a checkpoint's
    optimizer state carries its own learning rate): ``fields["optimizer_used"]`` of the run record."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # tuples (Adam's betas) as lists: the record equals its JSON file read back
        self.fields["optimizer_used"] = [
            {"name": type(opt).__name__}
            | {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in group.items()
                if k != "params" and isinstance(v, int | float | str | bool | tuple)
            }
            for opt in trainer.optimizers
            for group in opt.param_groups
        ]
