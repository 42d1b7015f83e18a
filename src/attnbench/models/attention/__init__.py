"""Score functions (one file each), the shared alignments, and the registry the config names."""

from attnbench.models.attention.additive import AdditiveAttention
from attnbench.models.attention.alignment import ALIGNMENTS, HARD_ESTIMATORS, Aligned, Alignment, masked_softmax
from attnbench.models.attention.base import Attention, AttentionOutput
from attnbench.models.attention.cosine import CosineAttention
from attnbench.models.attention.dot import DotAttention
from attnbench.models.attention.general import GeneralAttention
from attnbench.models.attention.location import LocationAttention
from attnbench.models.attention.scaled_dot import ScaledDotAttention

SCORES: dict[str, type[Attention]] = {
    "additive": AdditiveAttention,
    "dot": DotAttention,
    "scaled_dot": ScaledDotAttention,
    "general": GeneralAttention,
    "cosine": CosineAttention,
    "location": LocationAttention,
}

__all__ = [
    "ALIGNMENTS",
    "HARD_ESTIMATORS",
    "SCORES",
    "AdditiveAttention",
    "Aligned",
    "Alignment",
    "Attention",
    "AttentionOutput",
    "CosineAttention",
    "DotAttention",
    "GeneralAttention",
    "LocationAttention",
    "ScaledDotAttention",
    "masked_softmax",
]
