"""What every classifier shares: cross-entropy loss (plus the terms its outputs ask for), torchmetrics
metrics named ``split/metric``, AdamW or Adam (``model.optimizer.name``) with an optional schedule. A
model subclasses :class:`ClassificationTask`, builds its modules and implements ``run_batch``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attnbench.data.batching import TextBatch

if TYPE_CHECKING:
    from attnbench.models.classifier import ClassifierOutput


# AdamW decays weights apart from the gradient (Loshchilov & Hutter); Adam adds weight_decay·w to the
# gradient (L2), as PyTorch's Adam and the older papers (e.g. Jain & Wallace 2019) do. Both take lr,
# betas, eps, weight_decay, amsgrad.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


class ClassificationTask(pl.LightningModule):
    """Loss, metrics and optimizer shared by the classifiers; a subclass builds its modules and
    implements :meth:`run_batch`. Call ``super().__init__(num_classes)`` first."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "f1_macro": MulticlassF1Score(num_classes, average="macro"),
            }
        )
        self.train_metrics = metrics.clone(prefix="train/")
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

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        raise NotImplementedError

    def load_pretrained_embeddings(self, vectors: Tensor) -> None:
        """Copy pretrained vectors [vocab_size, embedding_dim] into ``self.embedding`` (weights, so
        checkpoints hold them; never hyperparameters)."""
        embedding = getattr(self, "embedding", None)
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

    def _step(self, batch: TextBatch, split: str) -> Tensor:
        out = self.run_batch(batch)
        logits = out.logits
        per_example = nn.functional.cross_entropy(logits, batch.labels, reduction="none")
        loss = per_example.mean()
        if out.penalty is not None:
            loss = loss + out.penalty
        if out.log_prob is not None and split == "train":
            # the reward of a sampled attention is the negative loss of the prediction it led to
            loss = loss + self.reinforce_loss(out.log_prob, -per_example.detach())
        metrics = getattr(self, f"{split}_metrics")
        metrics.update(logits, batch.labels)
        if split == "train":  # this rank's loss; the gradient all-reduce is what keeps ranks in step
            self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=len(batch), prog_bar=True)
        else:
            mean_loss = getattr(self, f"{split}_loss")
            mean_loss.update(loss.detach(), weight=len(batch))
            self.log(f"{split}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=split == "val")
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=split == "val")
        return loss

    def training_step(self, batch: TextBatch, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: TextBatch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: TextBatch, batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        opt_cfg = {"lr": 2e-3, "weight_decay": 0.01, **self.hparams.optimizer}
        name = opt_cfg.pop("name", "adamw")
        if name not in OPTIMIZERS:
            raise ValueError(f"model.optimizer.name={name!r}; use one of {sorted(OPTIMIZERS)}")
        optimizer = OPTIMIZERS[name](self.parameters(), **opt_cfg)
        sched = dict(self.hparams.scheduler)
        name = sched.pop("name", "none")
        if name == "none":
            return optimizer
        if name == "cosine":
            steps = self.trainer.estimated_stepping_batches
            warmup = int(sched.get("warmup_fraction", 0.0) * steps)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup, int(steps)))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        if name == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=sched.get("factor", 0.5), patience=sched.get("patience", 1)
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/acc"}}
        raise ValueError(f"model.scheduler.name={name!r}; use none, cosine or plateau")


def _warmup_cosine(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor
