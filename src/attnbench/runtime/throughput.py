"""Throughput and memory of a run, as ``run.json`` records them: :class:`Throughput` counts the examples
and non-padding tokens a Trainer actually trains and evaluates and the seconds its loops take;
:func:`peak_memory` reads the process's high-water marks.

Counts are summed over DDP ranks (each rank trains its own shard); seconds are this rank's, so the
rates are those of the whole job. Token counts stay on the batch's device until a loop ends, so the
count never makes a training step wait for the accelerator.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor


def batch_size(batch: Any) -> int:
    """Examples in ``batch`` (a :class:`~attnbench.data.batching.TextBatch` or anything with a length)."""
    return len(batch) if hasattr(batch, "__len__") else 0


def batch_tokens(batch: Any) -> Tensor | int:
    """Non-padding tokens of ``batch``: the sum of ``lengths`` [B] (plus ``pair_lengths`` [B] for pairs),
    a 0-d tensor on the batch's device (no host sync), or 0 for a batch without lengths."""
    total: Tensor | int = 0
    for name in ("lengths", "pair_lengths"):
        lengths = getattr(batch, name, None)
        if isinstance(lengths, Tensor):
            total = total + lengths.sum()
    return total


def peak_memory() -> dict[str, float]:
    """``peak_rss_mb``: this process's resident-set high-water mark; ``cuda_peak_mb``: the most CUDA
    memory tensors held at once (only when CUDA was used), both in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    out = {"peak_rss_mb": rss / (2**20 if sys.platform == "darwin" else 2**10)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


class _Counter:
    """Examples, tokens and seconds of one kind of loop (training or evaluation)."""

    def __init__(self) -> None:
        self.examples, self.tokens, self.seconds = 0, 0, 0.0
        self._local: list[Any] = [0, 0]  # [examples, tokens] of the running loop, this rank
        self._started = 0.0

    def start(self) -> None:
        self._local, self._started = [0, 0], time.perf_counter()

    def add(self, batch: Any) -> None:
        self._local[0] += batch_size(batch)
        self._local[1] = self._local[1] + batch_tokens(batch)

    def stop(self, trainer: pl.Trainer, exclude_s: float = 0.0) -> None:
        """End the loop: add its seconds (less ``exclude_s``) and its counts summed over the ranks."""
        self.seconds += time.perf_counter() - self._started - exclude_s
        device = trainer.strategy.root_device
        local = torch.tensor([float(self._local[0]), float(self._local[1])], device=device, dtype=torch.float64)
        total = trainer.strategy.reduce(local, reduce_op="sum")
        self.examples += int(total[0].item())
        self.tokens += int(total[1].item())


class Throughput(pl.Callback):
    """Counts what a Trainer trains and evaluates, over every ``fit``/``validate``/``test`` it runs.

    Training seconds run from ``on_train_start`` to ``on_train_end`` less the validation loops inside
    them (checkpointing and early stopping count as training); evaluation seconds are the validation
    (not the sanity check) and test loops. :meth:`timings` gives the rates ``run.json`` records.
    """

    def __init__(self) -> None:
        self.train, self.eval = _Counter(), _Counter()
        self._val_inside_fit = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train.start()
        self._val_inside_fit = 0.0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.train.add(batch)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train.stop(trainer, exclude_s=self._val_inside_fit)

    def _eval_start(self, trainer: pl.Trainer) -> None:
        if not trainer.sanity_checking:
            self.eval.start()

    def _eval_end(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking:
            return
        before = self.eval.seconds
        self.eval.stop(trainer)
        if trainer.state.fn == TrainerFn.FITTING:
            self._val_inside_fit += self.eval.seconds - before

    def _eval_batch(self, trainer: pl.Trainer, batch: Any) -> None:
        if not trainer.sanity_checking:
            self.eval.add(batch)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_start(trainer)

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        self._eval_batch(trainer, batch)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_end(trainer)

    # the test loop is counted exactly as the validation loop
    on_test_start = on_validation_start

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        self._eval_batch(trainer, batch)

    on_test_end = on_validation_end

    def timings(self) -> dict[str, float]:
        """``train_s`` and the rates: ``train_examples_per_s``, ``train_tokens_per_s``,
        ``eval_examples_per_s`` (each only when its loop ran)."""
        out: dict[str, float] = {}
        if self.train.examples and self.train.seconds > 0:
            out["train_s"] = self.train.seconds
            out["train_examples_per_s"] = self.train.examples / self.train.seconds
            out["train_tokens_per_s"] = self.train.tokens / self.train.seconds
        if self.eval.examples and self.eval.seconds > 0:
            out["eval_examples_per_s"] = self.eval.examples / self.eval.seconds
        return out
