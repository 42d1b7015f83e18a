"""What every task (a LightningModule) shares: the optimizer and its schedule (``model.optimizer``,
``model.scheduler``, defaults from the schema), metrics named ``split/metric``, an evaluation loss that
is exact under DDP, the REINFORCE baseline of hard attention, and pretrained embeddings.

A task subclasses :class:`Task`, passes its metrics to ``super().__init__`` and implements :meth:`step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from attnbench.config.schema import OPTIMIZERS, SCHEDULERS, OptimizerConfig, SchedulerConfig
from attnbench.models.parameters import count_parameters

__all__ = ["SPLITS", "Task", "build_optimizer", "count_parameters", "plain", "warmup_cosine"]

SPLITS = ("train", "val", "test")


def plain(x: Any) -> Any:
    """OmegaConf containers → plain dicts/lists, so checkpoints load with ``weights_only=True``."""
    return OmegaConf.to_container(x, resolve=True) if isinstance(x, DictConfig | ListConfig) else x


def build_optimizer(parameters: Any, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """``settings``: ``model.optimizer``; a key it lacks takes the schema's default (:class:`OptimizerConfig`)."""
    options = {**asdict(OptimizerConfig()), **settings}
    name = options.pop("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"model.optimizer.name={name!r}; use one of {sorted(OPTIMIZERS)}")
    optimizer_class: type[torch.optim.Optimizer] = getattr(torch.optim, OPTIMIZERS[name])
    return optimizer_class(parameters, **options)


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    """LR factor per step: linear warm-up over ``warmup`` steps, then a cosine decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class Task(pl.LightningModule):
    """Shared by every task. ``metrics``: the task's metrics, cloned per split with the ``split/`` prefix
    (``train/acc``, ``val/f1_macro``); a subclass implements :meth:`step` and calls :meth:`log_step`."""

    monitor: ClassVar[str] = "val/acc"  # what schedule=plateau watches (higher is better)
    reward_baseline: Tensor  # a buffer, registered in __init__

    def __init__(self, metrics: MetricCollection, train_metrics: MetricCollection | None = None) -> None:
        super().__init__()
        # train_metrics: the same values as metrics, computed more cheaply (updated every step)
        self.train_metrics = (metrics if train_metrics is None else train_metrics).clone(prefix="train/")
        # The input checks of a metric's update (torch.unique over the targets) wait for the device on
        # every training step; the model's own argmax and the data's labels cannot fail them.
        for metric in self.train_metrics.values():
            metric.validate_args = False
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # Evaluation loss as a metric that sums loss × examples and examples over all ranks: under DDP
        # the ranks hold different numbers of examples, so a mean of per-rank means would be inexact.
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        # REINFORCE baseline: running mean of the reward. Not saved (checkpoints keep their keys);
        # after a resume it re-warms within a few steps.
        self.register_buffer("reward_baseline", torch.zeros(()), persistent=False)
        self.reward_baseline_ready = False
        # the running training epoch, on the device (see log_step); not saved: an epoch resumes from its start
        self._train_loss_sum = torch.zeros(())
        self._train_examples = 0
        self._train_loss_step: Tensor | None = None

    def step(self, batch: Any, split: str) -> Tensor:
        """The loss of one batch of ``split`` (train, val or test); logs through :meth:`log_step`."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.step(batch, "test")

    def log_step(self, split: str, loss: Tensor, batch_size: int, preds: Tensor, target: Tensor) -> None:
        """Update ``split``'s metrics with ``preds``/``target`` and its loss (``split/loss``).

        Training logs nothing per step: a ``self.log`` call costs milliseconds of host Python (Lightning
        moves its result record to the device and deep-copies its metadata each call), more than a small
        model's whole step. The metrics' counts and the loss sum stay on the device and are logged once
        per epoch (:meth:`on_train_epoch_end`); ``train/loss_step`` only on the steps the loggers write
        (:meth:`on_train_batch_end`). The values are those ``self.log("train/loss", on_step=True,
        on_epoch=True)`` and logging the metric objects gave: the same sums in the same order."""
        metrics: MetricCollection = getattr(self, f"{split}_metrics")
        metrics.update(preds, target)
        if split == "train":  # this rank's loss; the gradient all-reduce is what keeps ranks in step
            step = loss.detach()
            # as Lightning reduces a logged loss: in float32 (or float64), a sum of loss × batch size
            self._train_loss_step = step if step.dtype in (torch.float32, torch.float64) else step.float()
            self._train_loss_sum = self._train_loss_sum + self._train_loss_step * batch_size
            self._train_examples += batch_size
            return
        mean_loss: MeanMetric = getattr(self, f"{split}_loss")
        mean_loss.update(loss.detach(), weight=batch_size)
        self.log(f"{split}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=split == "val")
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=split == "val")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """``train/loss_step`` on the steps the loggers write (every ``trainer.log_every_n_steps``),
        read by the loggers only then; not on the progress bar, which would read it every step."""
        connector = self.trainer._logger_connector  # its rule for "the loggers write at this step"
        # fast_dev_run writes every step; Trainer sets the attribute without declaring it
        every_step = bool(getattr(self.trainer, "fast_dev_run", False))
        if self._train_loss_step is not None and (connector.should_update_logs or every_step):
            self.log("train/loss_step", self._train_loss_step, on_step=True, on_epoch=False)

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum = torch.zeros((), dtype=torch.get_default_dtype(), device=self.device)
        self._train_examples = 0
        self._train_loss_step = None

    def on_train_epoch_end(self) -> None:
        """The epoch's ``train/loss`` (``train/loss_epoch`` in the loggers) and training metrics."""
        if not self._train_examples:
            return
        mean = self._train_loss_sum / torch.tensor(self._train_examples)
        self.log("train/loss", mean, on_step=False, on_epoch=True, logger=False)  # callback_metrics, as before
        self.log("train/loss_epoch", mean, on_step=False, on_epoch=True)
        self.log_dict(self.train_metrics.compute(), on_step=False, on_epoch=True)
        self.train_metrics.reset()

    def reinforce_loss(self, log_prob: Tensor, reward: Tensor, momentum: float = 0.9) -> Tensor:
        """Williams' REINFORCE with a moving-average baseline: −mean((r − b)·log π), then b ← EMA(r).

        ``log_prob``: [B] log-probability of the sampled hard positions; ``reward``: [B], no gradient.
        """
        if not self.reward_baseline_ready:
            self.reward_baseline.fill_(reward.mean())
            self.reward_baseline_ready = True
        loss = -((reward - self.reward_baseline) * log_prob).mean()
        self.reward_baseline.mul_(momentum).add_((1 - momentum) * reward.mean())
        return loss

    def load_pretrained_embeddings(self, vectors: Tensor) -> None:
        """Copy pretrained vectors [vocab_size, embedding_dim] into the wrapped model's word embedding
        (``self.model.embedding``: weights, so checkpoints hold them; never hyperparameters)."""
        embedding = getattr(getattr(self, "model", None), "embedding", None)
        if not isinstance(embedding, nn.Embedding):
            raise ValueError(f"{type(self).__name__} has no word embedding; unset data.embeddings_path")
        if tuple(vectors.shape) != tuple(embedding.weight.shape):
            raise ValueError(
                f"pretrained vectors have shape {tuple(vectors.shape)} but the embedding is "
                f"{tuple(embedding.weight.shape)} (vocab_size, model.embedding_dim). "
                f"Fix: set model.embedding_dim={vectors.shape[1]} to match data.embeddings_path."
            )
        with torch.no_grad():
            embedding.weight.copy_(vectors)

    def configure_optimizers(self) -> Any:
        """``hparams.optimizer`` and ``hparams.scheduler``; keys they lack take the schema's defaults."""
        optimizer = build_optimizer(self.parameters(), self.hparams["optimizer"])
        schedule = {**asdict(SchedulerConfig()), **self.hparams["scheduler"]}
        name = schedule["name"]
        if name not in SCHEDULERS:
            raise ValueError(f"model.scheduler.name={name!r}; use none, cosine or plateau")
        if name == "none":
            return optimizer
        if name == "cosine":
            steps = int(self.trainer.estimated_stepping_batches)
            warmup = int(schedule["warmup_fraction"] * steps)
            scheduler: Any = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, steps))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=schedule["factor"], patience=schedule["patience"]
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor}}
