"""Training metrics of a classifier from one confusion matrix: :class:`ConfusionCounts`.

``MulticlassAccuracy(average="micro")`` and ``MulticlassF1Score(average="macro")`` each update their own
counts with a dozen small tensor operations a step, a millisecond of host Python together on a small
model. Both are functions of the confusion matrix, which one accumulating index update per step keeps on
the device (no host read: ``bincount`` on CUDA would read the largest index back). At the epoch's end
the per-class counts go through torchmetrics' own reductions, so the values are theirs exactly
(``tests/test_step_logging.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification.accuracy import _accuracy_reduce
from torchmetrics.functional.classification.f_beta import _fbeta_reduce


class ConfusionCounts(Metric):
    """``acc`` (micro accuracy) and ``f1_macro`` of ``num_classes``-way predictions; summed over DDP ranks."""

    full_state_update = False
    confusion: Tensor

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        # [target * C + prediction] → count; a flat vector so that one index update adds a batch
        self.add_state("confusion", torch.zeros(num_classes * num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """``preds``: logits [B, C] or class ids [B]; ``target``: class ids [B]."""
        if preds.ndim == target.ndim + 1:
            preds = preds.argmax(dim=-1)
        index = target.long() * self.num_classes + preds.long()
        # accumulate=True: repeated indices add up (deterministic on CUDA too)
        self.confusion.index_put_((index,), torch.ones_like(index), accumulate=True)

    def compute(self) -> dict[str, Tensor]:
        matrix = self.confusion.view(self.num_classes, self.num_classes)  # rows: target, columns: prediction
        tp = matrix.diagonal()
        fp = matrix.sum(dim=0) - tp
        fn = matrix.sum(dim=1) - tp
        tn = matrix.sum() - tp - fp - fn
        return {
            "acc": _accuracy_reduce(tp, fp, tn, fn, average="micro"),
            "f1_macro": _fbeta_reduce(tp, fp, tn, fn, beta=1.0, average="macro"),
        }
