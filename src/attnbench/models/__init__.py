"""Models: encoders, attention (one file per score), pooling, and the classifiers built from them."""

from attnbench.models.classifier import TextClassifier
from attnbench.models.keras_example import KerasConv1DAttention
from attnbench.tasks.base import count_parameters

__all__ = ["KerasConv1DAttention", "TextClassifier", "count_parameters"]
