"""The built-in text classifier as an :class:`~attnbench.analysis.core.Explainable`.

``attend`` runs embedding dropout, the encoder and the attention module as training does and keeps the
encoder states; ``decide`` redoes only the weighted sum and the head for given weights, so
``decide(attend(x), its own weights)`` is the classifier's output. Multi-head attention is analysed per
head (rows = heads × hops, head-major), whatever ``average_attn_weights`` says, because the heads' mean
cannot be put back into the heads.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.analysis.core import Attended
from attnbench.models.classifier import TextClassifier
from attnbench.models.pooling import AttentionPooling, MultiHeadAttentionPooling, UniformAttention


class NotAnalysable(ValueError):
    """The model has no attention distribution over its input tokens to analyse."""


class ClassifierExplainer:
    """Wraps a :class:`TextClassifier` (single texts, attention over the tokens)."""

    def __init__(self, classifier: TextClassifier) -> None:
        aggregator = classifier.aggregator
        if not isinstance(aggregator, AttentionPooling | MultiHeadAttentionPooling | UniformAttention):
            raise NotAnalysable(
                f"{type(aggregator).__name__} has no attention weights to analyse (attention=none is a pooling "
                "baseline); analyse a checkpoint trained with attention, e.g. attention=additive"
            )
        if classifier.pair:
            raise NotAnalysable("text-pair models are not analysable yet: their head mixes two texts' attention")
        self.classifier, self.aggregator = classifier, aggregator

    def embed(self, ids: Tensor) -> Tensor:
        """Embeddings [B, T, E] of ``ids`` [B, T]."""
        return self.classifier.embedding(ids)

    def attend(self, embedded: Tensor, lengths: Tensor, mask: Tensor) -> Attended:
        """Encoder states [B, T, D] and the weights [B, R, T]."""
        enc = self.classifier.encoder(self.classifier.embedding_dropout(embedded), lengths, mask)
        if isinstance(self.aggregator, MultiHeadAttentionPooling):
            return Attended(enc.states, mask, self._head_weights(enc, mask))
        return Attended(enc.states, mask, self.aggregator(enc, mask).weights)

    def _head_weights(self, enc: object, mask: Tensor) -> Tensor:
        agg = self.aggregator
        saved = agg.need_weights, agg.average_attn_weights
        agg.need_weights, agg.average_attn_weights = True, False
        try:
            return agg(enc, mask).weights
        finally:
            agg.need_weights, agg.average_attn_weights = saved

    def decide(self, attended: Attended, weights: Tensor) -> Tensor:
        """Logits [B, V, C] for weights [B, V, R, T] over ``attended.states`` [B, T, D]."""
        states = attended.states
        if isinstance(self.aggregator, MultiHeadAttentionPooling):
            vector = self._multihead(states, weights)
        else:
            vector = torch.einsum("bvrt,btd->bvrd", weights.to(states.dtype), states).flatten(2)
        return self.classifier.head(vector)

    def _multihead(self, states: Tensor, weights: Tensor) -> Tensor:
        agg = self.aggregator
        assert isinstance(agg, MultiHeadAttentionPooling)
        b, v, r, t = weights.shape
        values = agg._split(agg.v_proj(states))  # [B, heads, T, d]
        per_head = weights.to(states.dtype).view(b, v, agg.heads, r // agg.heads, t)  # [B, V, heads, hops, T]
        context = torch.einsum("bvhqt,bhtd->bvqhd", per_head, values).flatten(3)  # [B, V, hops, hidden]
        return agg.out_proj(context).flatten(2)


def explainer(model: object) -> ClassifierExplainer:
    """The :class:`ClassifierExplainer` of ``model`` (a :class:`TextClassifier`, or a task wrapping one as
    ``model.model``), or :class:`NotAnalysable` with what to do instead."""
    model = getattr(model, "model", model)
    if not isinstance(model, TextClassifier):
        raise NotAnalysable(f"{type(model).__name__} has no attention to analyse; the analyses take a TextClassifier")
    return ClassifierExplainer(model)
