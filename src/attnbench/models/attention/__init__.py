from attnbench.models.attention.additive import AdditiveAttention
from attnbench.models.attention.base import Attention, AttentionOutput, masked_softmax

SCORES = {"additive": AdditiveAttention}

__all__ = ["SCORES", "AdditiveAttention", "Attention", "AttentionOutput", "masked_softmax"]
