"""The text classifier: embedding → encoder → aggregator (attention or pooling) → head."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attnbench.data.batching import TextBatch
from attnbench.models.aggregators import Aggregate, build_aggregator
from attnbench.models.encoders import build_encoder


def _plain(x: Any) -> Any:
    """OmegaConf containers → plain dicts/lists, so checkpoints load with ``weights_only=True``."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(x, DictConfig | ListConfig):
            return OmegaConf.to_container(x, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return x


@dataclass
class ClassifierOutput:
    """``logits``: [B, C]; ``weights``: attention weights [B, hops, T] or None; ``penalty``: a scalar
    added to the loss (e.g. the structured self-attention penalty) or None."""

    logits: Tensor
    weights: Tensor | None = None
    penalty: Tensor | None = None


class TextClassifier(pl.LightningModule):
    """Sequence classifier. Every constructor argument is a plain value saved in the checkpoint.

    ``encoder``: ``{name: bilstm|conv1d, ...}``; ``attention``: ``{name: none}`` or
    ``{name: attention, score, alignment, query, hidden_size, hops}``; ``pooling``: ``{mode}`` (used
    when attention is none); ``optimizer``: AdamW arguments; ``scheduler``: ``{name: none|cosine|plateau}``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        encoder: dict,
        attention: dict,
        pooling: dict,
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        dropout: float = 0.3,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
    ) -> None:
        super().__init__()
        encoder, attention, pooling = _plain(encoder), _plain(attention), _plain(pooling)
        optimizer, scheduler = _plain(optimizer) or {}, _plain(scheduler) or {"name": "none"}
        self.save_hyperparameters(
            {
                "vocab_size": vocab_size, "num_classes": num_classes, "encoder": encoder,
                "attention": attention, "pooling": pooling, "embedding_dim": embedding_dim,
                "embedding_dropout": embedding_dropout, "dropout": dropout,
                "optimizer": optimizer, "scheduler": scheduler,
            }
        )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.encoder = build_encoder(encoder, embedding_dim)
        self.aggregator = build_aggregator(attention, pooling, self.encoder.output_size)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.aggregator.output_size, num_classes))
        self.loss_fn = nn.CrossEntropyLoss()
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

    def encode(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Aggregate:
        x = self.embedding_dropout(self.embedding(ids))
        return self.aggregator(self.encoder(x, lengths, mask), mask)

    def forward(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """Logits [B, num_classes] for ``ids`` [B, T] with ``lengths`` [B] and ``mask`` [B, T]."""
        return self.head(self.encode(ids, lengths, mask).vector)

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        """Everything a step needs from one batch: logits, attention weights, extra loss terms."""
        agg = self.encode(batch.ids, batch.lengths, batch.mask)
        return ClassifierOutput(self.head(agg.vector), agg.weights)

    def _step(self, batch: TextBatch, split: str) -> Tensor:
        out = self.run_batch(batch)
        logits = out.logits
        loss = self.loss_fn(logits, batch.labels)
        if out.penalty is not None:
            loss = loss + out.penalty
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
        optimizer = torch.optim.AdamW(self.parameters(), **opt_cfg)
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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
