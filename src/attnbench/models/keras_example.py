"""The original Keras example (the ``tf.keras.layers.Attention`` documentation), reproduced in PyTorch:

    token_embedding = Embedding(input_dim=1000, output_dim=64)            # shared
    cnn_layer = Conv1D(filters=100, kernel_size=4, padding='same')        # shared
    query_seq_encoding = cnn_layer(token_embedding(query_input))
    value_seq_encoding = cnn_layer(token_embedding(value_input))
    query_value_attention_seq = Attention()([query_seq_encoding, value_seq_encoding])
    query_encoding = GlobalAveragePooling1D()(query_seq_encoding)
    query_value_attention = GlobalAveragePooling1D()(query_value_attention_seq)
    input_layer = Concatenate()([query_encoding, query_value_attention])  # then a dense head

The value text is ``batch.pair_ids`` for text-pair data; with single texts, query = value. One
deliberate difference: the Keras example does not mask padding (its ``Embedding`` has no
``mask_zero``), so its output depends on how much padding a batch has. Here the convolution, the
attention (padded values get zero weight) and both averages are mask-aware, so every example's logits
are those of the example alone. The vocabulary size comes from the data (``data.max_vocab=1000`` in
``experiment=keras_conv1d``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attnbench.config.schema import KerasConv1DModelConfig
from attnbench.data.batching import TextBatch
from attnbench.models.attention import DotAttention
from attnbench.models.encoder_base import masked_mean
from attnbench.models.encoders import Conv1DEncoder
from attnbench.models.outputs import ClassifierOutput


class KerasConv1DAttention(nn.Module):
    """Embedding → shared Conv1D on query and value → dot ``Attention()([q, v])`` → GAP(q) ⊕ GAP(att) → head.

    ``activation``: the Conv1D's (Keras's default is none: ``linear``); ``use_scale``/``score_mode``:
    those of Keras ``Attention``; the head is ``Dropout(dropout)`` + ``Dense(num_classes)``.
    Every constructor argument is a plain value (the task saves them in the checkpoint); defaults are the schema's
    (:class:`~attnbench.config.schema.KerasConv1DModelConfig`). ``pair`` records that the
    data are text pairs (set by the data module); each batch says itself whether it carries a value text.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = KerasConv1DModelConfig.embedding_dim,
        filters: int = KerasConv1DModelConfig.filters,
        kernel_size: int = KerasConv1DModelConfig.kernel_size,
        activation: str = KerasConv1DModelConfig.activation,
        use_scale: bool = KerasConv1DModelConfig.use_scale,
        score_mode: str = KerasConv1DModelConfig.score_mode,
        dropout: float = KerasConv1DModelConfig.dropout,
        pair: bool = False,
    ) -> None:
        super().__init__()
        self.pair = pair
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.cnn = Conv1DEncoder(embedding_dim, filters=filters, kernel_size=kernel_size, activation=activation)
        self.attention = DotAttention(filters, filters, use_scale=use_scale, score_mode=score_mode)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * filters, num_classes))

    def _encode(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        return self.cnn(self.embedding(ids), lengths, mask).states  # [B, T, filters]

    def attend(
        self,
        ids: Tensor,
        lengths: Tensor,
        mask: Tensor,
        value_ids: Tensor | None = None,
        value_lengths: Tensor | None = None,
        value_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Logits [B, C] and the weights [B, 1, Tv] each value token gets, averaged over valid queries
        (the weights of the averaged attention output). Query ``ids`` [B, Tq]; values default to it."""
        query = self._encode(ids, lengths, mask)
        if value_ids is None:
            value, value_mask = query, mask
        else:
            assert value_lengths is not None and value_mask is not None, "value_ids come with their lengths and mask"
            value = self._encode(value_ids, value_lengths, value_mask)
        out = self.attention(query, value, mask=value_mask)
        # GlobalAveragePooling1D of the query encoding and of the attention output, then Concatenate
        features = torch.cat([masked_mean(query, mask), masked_mean(out.context, mask)], dim=-1)
        return self.head(features), masked_mean(out.weights, mask)[:, None, :]

    def forward(self, ids: Tensor, lengths: Tensor, mask: Tensor, **pair: Any) -> Tensor:
        """Logits [B, num_classes]; ``pair``: ``value_ids``, ``value_lengths``, ``value_mask`` of a second text."""
        return self.attend(ids, lengths, mask, **pair)[0]

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        if batch.is_pair:
            logits, weights = self.attend(
                batch.ids, batch.lengths, batch.mask, batch.pair_ids, batch.pair_lengths, batch.pair_mask
            )
            return ClassifierOutput(logits, weights, weights_over="pair_ids")
        logits, weights = self.attend(batch.ids, batch.lengths, batch.mask)
        return ClassifierOutput(logits, weights)
