"""The text classifier: embedding → encoder → aggregator (attention or pooling) → head, an ``nn.Module``
that :class:`~attnbench.tasks.classification.ClassificationTask` trains."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.config.schema import ModelConfig
from attnbench.data.batching import TextBatch
from attnbench.models.encoders import build_encoder
from attnbench.models.outputs import ClassifierOutput
from attnbench.models.pooling import Pooled, build_aggregator


def trim_padding(ids: Tensor, lengths: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``ids`` and ``mask`` [B, T] cut to the longest sequence of the batch, [B, max(lengths)].

    Padding past every sequence's end cannot change a valid position's value, but it changes the
    blocking of the sums over T (a weighted sum over keys, a mean): cut, the same batch gives bitwise
    the same logits however wide it was padded. Batches from the data module are already this wide.
    """
    width = max(int(lengths.max()), 1) if lengths.numel() else ids.shape[1]
    return ids[:, :width], mask[:, :width]


class TextClassifier(nn.Module):
    """Sequence classifier. Every constructor argument is a plain value (the task saves them in the
    checkpoint); defaults are those of the schema (:class:`~attnbench.config.schema.ModelConfig`).

    ``encoder``: ``{name: bilstm|conv1d, ...}``; ``attention``: ``{name: none}``, ``{name: attention,
    score, alignment, query, hops, ...}`` or ``{name: multihead, heads, ...}``; ``pooling``: ``{mode}`` (used
    when attention is none).
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
        embedding_dim: int = ModelConfig.embedding_dim,
        embedding_dropout: float = ModelConfig.embedding_dropout,
        dropout: float = ModelConfig.dropout,
        pair: bool = False,
        freeze_embeddings: bool = ModelConfig.freeze_embeddings,
    ) -> None:
        super().__init__()
        self.pair = pair
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.encoder = build_encoder(encoder, embedding_dim)
        self.aggregator = build_aggregator(attention, pooling, self.encoder.output_size)
        head_in = self.aggregator.output_size * (4 if pair else 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(head_in, num_classes))

    def encode(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Pooled:
        """One vector per sequence of ``ids`` [B, T]; attention weights [B, rows, T] (zero past each
        sequence's end), computed on the batch cut to its longest sequence (:func:`trim_padding`)."""
        width = ids.shape[1]
        ids, mask = trim_padding(ids, lengths, mask)
        x = self.embedding_dropout(self.embedding(ids))
        pooled = self.aggregator(self.encoder(x, lengths, mask), mask)
        if pooled.weights is not None and pooled.weights.shape[-1] < width:
            pooled.weights = nn.functional.pad(pooled.weights, (0, width - pooled.weights.shape[-1]))
        return pooled

    def forward(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """Logits [B, num_classes] for ``ids`` [B, T] with ``lengths`` [B] and ``mask`` [B, T]."""
        return self.head(self.encode(ids, lengths, mask).vector)

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        """Everything a step needs from one batch: logits, attention weights, extra loss terms."""
        agg = self.encode(batch.ids, batch.lengths, batch.mask)
        if not batch.is_pair:
            return ClassifierOutput(self.head(agg.vector), agg.weights, agg.penalty, agg.log_prob)
        other = self.encode(*batch.pair())
        u, v = agg.vector, other.vector
        logits = self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))
        # both texts' penalties and sampled hard positions shape the loss; the weights shown are the first text's
        return ClassifierOutput(
            logits, agg.weights, _sum(agg.penalty, other.penalty), _sum(agg.log_prob, other.log_prob)
        )


def _sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return b if a is None else a if b is None else a + b
