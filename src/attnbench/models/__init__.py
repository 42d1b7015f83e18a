from attnbench.models.classifier import TextClassifier, count_parameters
from attnbench.models.keras_seed import KerasConv1DAttention

__all__ = ["KerasConv1DAttention", "TextClassifier", "count_parameters"]
