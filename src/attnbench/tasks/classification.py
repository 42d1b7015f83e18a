"""Classification: the task that trains a classifier module from :mod:`attnbench.models` (named by
``model.architecture``: :class:`~attnbench.models.TextClassifier`, the Keras example, or any
``nn.Module`` with the same ``run_batch``), the way :class:`~attnbench.tasks.seq2seq.Seq2SeqTask` wraps
the encoder–decoder. Loss: cross-entropy on the logits plus the terms the module's output asks for;
metrics: accuracy and macro F1.

Checkpoints written when the classifiers were LightningModules themselves (weights at the top level,
no ``architecture`` hyperparameter) load unchanged: :func:`upgrade_checkpoint` maps them."""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attnbench.data.batching import TextBatch
from attnbench.models.outputs import ClassifierOutput
from attnbench.tasks.base import Task, plain
from attnbench.tasks.confusion import ConfusionCounts

TEXT_CLASSIFIER = "attnbench.models.TextClassifier"
KERAS_EXAMPLE = "attnbench.models.KerasConv1DAttention"


def build_classifier(architecture: str, arguments: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """The module ``architecture`` (a dotted class path) built from ``arguments``, and every argument
    it was built with (the given ones and its defaults): what the checkpoint saves."""
    try:
        module_class = get_class(architecture)
    except Exception as err:
        raise ValueError(f"model.architecture={architecture!r} is not an importable class ({err})") from None
    try:
        bound = inspect.signature(module_class).bind(**arguments)
    except TypeError as err:
        params = [p for p in inspect.signature(module_class).parameters if p not in ("vocab_size", "num_classes")]
        raise ValueError(
            f"model.architecture={architecture}: {err}; its config keys are model.{', model.'.join(params)}"
        ) from None
    bound.apply_defaults()
    return module_class(**bound.arguments), dict(bound.arguments)


class ClassificationTask(Task):
    """Loss and metrics of classification around the module ``architecture`` builds from ``vocab_size``,
    ``num_classes`` and ``model_arguments`` (the config's ``model.*`` keys: ``encoder``, ``attention``,
    ``pooling``, ``embedding_dim``, ...). ``optimizer``: ``{name: adamw|adam, lr, ...}``; ``scheduler``:
    ``{name: none|cosine|plateau}`` (keys they lack take the schema's defaults when the optimizer is built).

    Hyperparameters are saved flat, as the classifiers saved them before they were wrapped, plus
    ``architecture``; the module is ``self.model``."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        architecture: str = TEXT_CLASSIFIER,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        **model_arguments: Any,
    ) -> None:
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
        arguments = {"vocab_size": vocab_size, "num_classes": num_classes}
        arguments.update({k: plain(v) for k, v in model_arguments.items()})
        self.model, built_with = build_classifier(architecture, arguments)
        # saved as given (absent keys take the schema's defaults when the optimizer is built), so
        # checkpoints keep the hyperparameters they were saved with
        self.save_hyperparameters(
            {
                "architecture": architecture,
                **built_with,
                "optimizer": plain(optimizer) or {},
                "scheduler": plain(scheduler) or {"name": "none"},
            }
        )

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """The module's logits [B, num_classes] (its own ``forward``)."""
        return self.model(*args, **kwargs)

    def run_batch(self, batch: TextBatch) -> ClassifierOutput:
        """Everything a step needs from one batch: logits, attention weights, extra loss terms."""
        run_batch: Any = self.model.run_batch  # every classifier module has it (see the module docstring)
        out: ClassifierOutput = run_batch(batch)
        return out

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

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Lightning calls it before loading the weights: a checkpoint of the earlier layout is mapped."""
        upgrade_checkpoint(checkpoint)


def upgrade_checkpoint(checkpoint: dict[str, Any]) -> bool:
    """Map, in place, a classification checkpoint written when the classifiers were LightningModules:
    its weights gain the ``model.`` prefix and its hyperparameters the ``architecture`` they were
    trained with (the Keras example is the one with ``filters``). Returns whether it changed anything;
    a current checkpoint is left as it is."""
    hparams = checkpoint.get("hyper_parameters", {})
    if "architecture" in hparams or "num_classes" not in hparams:
        return False
    hparams["architecture"] = KERAS_EXAMPLE if "filters" in hparams else TEXT_CLASSIFIER
    state = checkpoint.get("state_dict", {})
    checkpoint["state_dict"] = {(k if k.startswith("model.") else f"model.{k}"): v for k, v in state.items()}
    return True
