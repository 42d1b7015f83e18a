"""Sequence to sequence: teacher-forced cross-entropy per target token in training; at evaluation the
same loss plus greedy or beam decoding, scored by exact match (``acc``), token accuracy, BLEU and chrF,
overall and per source-length bucket (:mod:`attnbench.tasks.seq2seq_metrics`).

The evaluation loss is the mean over target tokens, exact under DDP: the base's mean metric is
weighted by each batch's token count. ``tf_token_acc`` is the teacher-forced token accuracy.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from attnbench.data.seq2seq.batching import PairBatch
from attnbench.data.seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab
from attnbench.models.beam import Decoded, beam_search, greedy
from attnbench.models.decoder import DecoderOutput
from attnbench.models.seq2seq import EncoderDecoder, pair_nll, token_nll
from attnbench.tasks.base import Task, plain
from attnbench.tasks.seq2seq_metrics import SequenceMetrics

DECODE_KEYS = ("beam_size", "length_penalty", "max_length")


class Seq2SeqTask(Task):
    """The encoder–decoder as a task. The data decides the vocabularies (``source_vocab_size``,
    ``target_vocab_size``, ``target_vocab`` as :meth:`Vocab.to_dict`), the length buckets
    (``length_edges``, ``length_labels``) and ``longest_target`` (train); the config the model
    (``encoder``, ``attention``, ``decoder``, ``embedding_dim``, ``embedding_dropout``,
    ``share_embeddings``), the decoding (``decode``: ``beam_size``, ``length_penalty``, ``max_length``,
    null = ``longest_target + 10``) and the optimisation (``optimizer``, ``scheduler``).
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        target_vocab: dict[str, Any],
        length_edges: list[int],
        length_labels: list[str],
        longest_target: int,
        encoder: dict[str, Any],
        attention: dict[str, Any],
        decoder: dict[str, Any],
        decode: dict[str, Any],
        embedding_dim: int,
        embedding_dropout: float,
        share_embeddings: bool,
        optimizer: dict[str, Any],
        scheduler: dict[str, Any],
    ) -> None:
        accuracy = MulticlassAccuracy(target_vocab_size, average="micro", ignore_index=PAD_ID)
        super().__init__(MetricCollection({"tf_token_acc": accuracy}))
        args = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__", "accuracy")}
        self.save_hyperparameters(args)
        unknown = sorted(set(args["decode"]) - set(DECODE_KEYS))
        if unknown:
            raise ValueError(f"decode.{unknown[0]} is not a decoding setting; use {list(DECODE_KEYS)}")
        self.model = EncoderDecoder(
            source_vocab_size,
            target_vocab_size,
            args["encoder"],
            args["decoder"],
            args["attention"],
            embedding_dim=embedding_dim,
            embedding_dropout=embedding_dropout,
            share_embeddings=share_embeddings,
        )
        self.vocab = Vocab.from_dict(args["target_vocab"])
        self.beam_size = int(args["decode"].get("beam_size", 1))
        self.length_penalty = float(args["decode"].get("length_penalty", 0.0))
        self.max_length = int(args["decode"].get("max_length") or longest_target + 10)
        self.val_quality = SequenceMetrics(length_edges, length_labels)
        self.test_quality = SequenceMetrics(length_edges, length_labels)

    def forward(self, batch: PairBatch) -> DecoderOutput:
        """Teacher forcing: logits [B, T, V] for the batch's targets, with the attention weights."""
        return self.model(batch.source, batch.source_lengths, batch.source_mask, batch.target_in)

    def decode(self, batch: PairBatch) -> Decoded:
        """Greedy (``beam_size`` 1, which also returns the attention weights) or beam-search outputs."""
        memory = self.model.encode(batch.source, batch.source_lengths, batch.source_mask)
        if self.beam_size == 1:
            return greedy(self.model.decoder, memory, BOS_ID, EOS_ID, self.max_length)
        return beam_search(
            self.model.decoder, memory, BOS_ID, EOS_ID, self.max_length, self.beam_size, self.length_penalty
        )

    def decode_with_weights(self, batch: PairBatch) -> Decoded:
        """Greedy outputs with their attention weights [B, T, S] (None without attention), for plots."""
        memory = self.model.encode(batch.source, batch.source_lengths, batch.source_mask)
        return greedy(self.model.decoder, memory, BOS_ID, EOS_ID, self.max_length)

    def step(self, batch: PairBatch, split: str) -> Tensor:
        out = self(batch)
        total, count = token_nll(out.logits, batch.target_out)
        loss = total / count.clamp(min=1)
        if out.log_prob is not None and split == "train":
            # REINFORCE for hard attention: a pair's reward is its negative summed token loss
            valid = (batch.target_out != PAD_ID).to(out.logits.dtype)
            nll = pair_nll(out.logits, batch.target_out)
            loss = loss + self.reinforce_loss((out.log_prob * valid).sum(1), -nll.detach())
        self.log_step(split, loss, int(count), out.logits.argmax(-1).flatten(), batch.target_out.flatten())
        if split != "train":
            decoded = self.decode(batch)
            hypotheses = [self.vocab.decode(row) for row in decoded.tokens.tolist()]
            references = [self.vocab.decode(row) for row in batch.target_out.tolist()]
            getattr(self, f"{split}_quality").update(hypotheses, references, batch.lengths)
        return loss

    def _log_quality(self, split: str) -> None:
        quality: SequenceMetrics = getattr(self, f"{split}_quality")
        if int(quality.exact[0, 1]) == 0 and not self.trainer.world_size > 1:
            return  # nothing evaluated (e.g. a rank-local empty epoch)
        for name, value in quality.compute().items():  # compute() sums the states over ranks
            self.log(f"{split}/{name}", value, prog_bar=split == "val" and name == "acc")
        quality.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_quality("val")

    def on_test_epoch_end(self) -> None:
        self._log_quality("test")
