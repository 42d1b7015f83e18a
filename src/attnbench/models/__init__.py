from attnbench.models.classifier import TextClassifier, count_parameters

__all__ = ["TextClassifier", "count_parameters"]
