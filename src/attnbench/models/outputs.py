"""What a classifier module returns for one batch (read by the classification task, the callbacks and
the analyses)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


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
