"""Models (``nn.Module`` only, no training): encoders, attention (one file per score), pooling, the
classifiers and the encoder–decoder built from them, and the TF-IDF baseline. The tasks in
:mod:`attnbench.tasks` train them; nothing here imports a task."""

from attnbench.models.classifier import TextClassifier
from attnbench.models.keras_example import KerasConv1DAttention
from attnbench.models.outputs import ClassifierOutput
from attnbench.models.parameters import count_parameters

__all__ = ["ClassifierOutput", "KerasConv1DAttention", "TextClassifier", "count_parameters"]
