"""Classification: cross-entropy on the logits (plus the terms a model's outputs ask for), accuracy and
macro F1. A classifier subclasses :class:`ClassificationTask`, builds its modules and implements
:meth:`~ClassificationTask.run_batch` (``attnbench.models.TextClassifier``, ``KerasConv1DAttention``)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attnbench.data.batching import TextBatch
from attnbench.tasks.base import Task
from attnbench.tasks.confusion import ConfusionCounts


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


class ClassificationTask(Task):
    """Loss and metrics of the classifiers; a subclass builds its modules and implements
    :meth:`run_batch`. Call ``super().__init__(num_classes)`` first."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(
            MetricCollection(
                {
                    "acc": MulticlassAccuracy(num_classes, average="micro"),
                    "f1_macro": MulticlassF1Score(num_classes, average="macro"),
                }
            ),
            # the same two values from one confusion matrix: one index update a training step
            train_metrics=MetricCollection({"counts": ConfusionCounts(num_classes)}),
        )

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        """Everything a step needs from one batch: logits, attention weights, extra loss terms."""
        raise NotImplementedError

    def step(self, batch: TextBatch, split: str) -> Tensor:
        out = self.run_batch(batch)
        per_example = nn.functional.cross_entropy(out.logits, batch.labels, reduction="none")
        loss = per_example.mean()
        if out.penalty is not None:
            loss = loss + out.penalty
        if out.log_prob is not None and split == "train":
            # the reward of a sampled attention is the negative loss of the prediction it led to
            loss = loss + self.reinforce_loss(out.log_prob, -per_example.detach())
        self.log_step(split, loss, len(batch), out.logits, batch.labels)
        return loss
