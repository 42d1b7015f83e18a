"""The text classifier: embedding → encoder → aggregator (attention or pooling) → head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.data.batching import TextBatch
from attnbench.models.aggregators import Aggregate, build_aggregator
from attnbench.models.encoders import build_encoder
from attnbench.models.task import ClassificationTask


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
    """``logits``: [B, C]; ``weights``: attention weights [B, rows, T] or None; ``penalty``: a scalar
    added to the loss (e.g. the structured self-attention penalty) or None; ``log_prob``: [B], the
    log-probability of hard-attention positions sampled for REINFORCE, or None; ``weights_over``: the
    batch field whose tokens ``weights`` index (``ids``, or ``pair_ids`` when a model attends over the
    second text of a pair)."""

    logits: Tensor
    weights: Tensor | None = None
    penalty: Tensor | None = None
    log_prob: Tensor | None = None
    weights_over: str = "ids"


class TextClassifier(ClassificationTask):
    """Sequence classifier. Every constructor argument is a plain value saved in the checkpoint.

    ``encoder``: ``{name: bilstm|conv1d, ...}``; ``attention``: ``{name: none}``, ``{name: attention,
    score, alignment, query, hops, ...}`` or ``{name: multihead, heads, ...}``; ``pooling``: ``{mode}`` (used
    when attention is none); ``optimizer``: ``{name: adamw|adam, lr, ...}``; ``scheduler``:
    ``{name: none|cosine|plateau}``.
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
        super().__init__(num_classes)
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

    def encode(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Aggregate:
        x = self.embedding_dropout(self.embedding(ids))
        return self.aggregator(self.encoder(x, lengths, mask), mask)

    def forward(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """Logits [B, num_classes] for ``ids`` [B, T] with ``lengths`` [B] and ``mask`` [B, T]."""
        return self.head(self.encode(ids, lengths, mask).vector)

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        """Everything a step needs from one batch: logits, attention weights, extra loss terms."""
        agg = self.encode(batch.ids, batch.lengths, batch.mask)
        if not batch.is_pair:
            return ClassifierOutput(self.head(agg.vector), agg.weights, agg.penalty, agg.log_prob)
        other = self.encode(batch.pair_ids, batch.pair_lengths, batch.pair_mask)
        u, v = agg.vector, other.vector
        logits = self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))
        # both texts' penalties and sampled hard positions shape the loss; the weights shown are the first text's
        return ClassifierOutput(
            logits, agg.weights, _sum(agg.penalty, other.penalty), _sum(agg.log_prob, other.log_prob)
        )


def _sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return b if a is None else a if b is None else a + b


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
