"""The text classifier: embedding → encoder → aggregator (attention or pooling) → head."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
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
    ``pair``: text-pair data; both texts go through the shared embedding, encoder and aggregator and the
    head reads ``[u, v, |u - v|, u * v]`` (InferSent). ``freeze_embeddings``: keep the embedding weights
    fixed (pretrained vectors, loaded with :meth:`load_pretrained_embeddings`).
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
        pair: bool = False,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        encoder, attention, pooling = _plain(encoder), _plain(attention), _plain(pooling)
        optimizer, scheduler = _plain(optimizer) or {}, _plain(scheduler) or {"name": "none"}
        self.save_hyperparameters(
            {
                "vocab_size": vocab_size, "num_classes": num_classes, "encoder": encoder,
                "attention": attention, "pooling": pooling, "embedding_dim": embedding_dim,
                "embedding_dropout": embedding_dropout, "dropout": dropout,
                "optimizer": optimizer, "scheduler": scheduler, "pair": pair,
                "freeze_embeddings": freeze_embeddings,
            }
        )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.encoder = build_encoder(encoder, embedding_dim)
        self.aggregator = build_aggregator(attention, pooling, self.encoder.output_size)
        head_in = self.aggregator.output_size * (4 if pair else 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(head_in, num_classes))
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

    def encode(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Aggregate:
        x = self.embedding_dropout(self.embedding(ids))
        return self.aggregator(self.encoder(x, lengths, mask), mask)

    def forward(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """Logits [B, num_classes] for ``ids`` [B, T] with ``lengths`` [B] and ``mask`` [B, T]."""
        return self.head(self.encode(ids, lengths, mask).vector)

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        """Everything a step needs from one batch: logits, attention weights, extra loss terms."""
        agg = self.encode(batch.ids, batch.lengths, batch.mask)
        if batch.is_pair:
            u, v = agg.vector, self.encode(batch.pair_ids, batch.pair_lengths, batch.pair_mask).vector
            return ClassifierOutput(self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=-1)), agg.weights)
        return ClassifierOutput(self.head(agg.vector), agg.weights)

    def load_pretrained_embeddings(self, vectors: Tensor) -> None:
        """Copy pretrained vectors [vocab_size, embedding_dim] into the embedding (weights, so checkpoints
        hold them; never hyperparameters)."""
        if tuple(vectors.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(
                f"pretrained vectors have shape {tuple(vectors.shape)} but the embedding is "
                f"{tuple(self.embedding.weight.shape)} (vocab_size, model.embedding_dim). "
                f"Fix: set model.embedding_dim={vectors.shape[1]} to match data.embeddings_path."
            )
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)

    def _step(self, batch: TextBatch, split: str) -> Tensor:
        out = self.run_batch(batch)
        logits = out.logits
        loss = self.loss_fn(logits, batch.labels)
        if out.penalty is not None:
            loss = loss + out.penalty
        metrics = getattr(self, f"{split}_metrics")
        metrics.update(logits, batch.labels)
        on_step = split == "train"
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=True, batch_size=len(batch),
                 prog_bar=split != "test", sync_dist=split != "train")
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
