"""The encoder–decoder: source embedding → encoder (shared with classification) → LSTM decoder.

Token ids: 0 = padding in both vocabularies; targets are framed by ``bos_id`` / ``eos_id``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from attnbench.config.seq2seq import Seq2SeqModelConfig
from attnbench.models.decoder import DecoderOutput, LSTMDecoder, Memory
from attnbench.models.encoders import build_encoder


class EncoderDecoder(nn.Module):
    """``encoder``: the encoder config (``name`` + arguments); ``decoder``: :class:`LSTMDecoder`'s
    arguments besides the sizes; ``attention``: the attention config. ``share_embeddings``: one
    embedding for source and target (a shared vocabulary of one size)."""

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        encoder: dict[str, Any],
        decoder: dict[str, Any],
        attention: dict[str, Any],
        embedding_dim: int = Seq2SeqModelConfig.embedding_dim,
        embedding_dropout: float = Seq2SeqModelConfig.embedding_dropout,
        share_embeddings: bool = Seq2SeqModelConfig.share_embeddings,
    ) -> None:
        super().__init__()
        if share_embeddings and source_vocab_size != target_vocab_size:
            raise ValueError(
                f"model.share_embeddings needs one vocabulary; sizes {source_vocab_size} and "
                f"{target_vocab_size}. Fix: set data.shared_vocab=true"
            )
        self.source_embedding = nn.Embedding(source_vocab_size, embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.encoder = build_encoder(encoder, embedding_dim)
        self.decoder = LSTMDecoder(
            target_vocab_size, self.encoder.output_size, attention, embedding_dim=embedding_dim, **decoder
        )
        if share_embeddings:
            tied = self.decoder.output.weight is self.decoder.embedding.weight  # decoder.tie_embeddings
            self.decoder.embedding.weight = self.source_embedding.weight
            if tied:  # tie after sharing: the output layer is the one shared matrix too
                self.decoder.output.weight = self.decoder.embedding.weight

    def encode(self, source: Tensor, lengths: Tensor, mask: Tensor) -> Memory:
        """Source ids [B, S], lengths [B], mask [B, S] → the decoder's :class:`Memory`."""
        x = self.embedding_dropout(self.source_embedding(source))
        return self.decoder.memory(self.encoder(x, lengths, mask), mask)

    def forward(self, source: Tensor, lengths: Tensor, mask: Tensor, target_in: Tensor) -> DecoderOutput:
        """Teacher forcing: logits [B, T, V] for target inputs ``target_in`` [B, T] (BOS-first)."""
        return self.decoder(target_in, self.encode(source, lengths, mask))


def pair_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Summed negative log-likelihood per pair [B] of ``targets`` [B, T] (padding 0 skipped) under
    ``logits`` [B, T, V]."""
    nll = nn.functional.cross_entropy(logits.transpose(1, 2).float(), targets, ignore_index=0, reduction="none")
    return nll.sum(1)


def token_nll(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(summed negative log-likelihood of the non-padding ``targets`` [B, T], their number), so means
    over batches and ranks stay exact."""
    return pair_nll(logits, targets).sum(), (targets != 0).sum()
