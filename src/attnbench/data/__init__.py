from attnbench.data.batching import BucketBySequenceLength, TextBatch
from attnbench.data.datamodule import TextClassificationDataModule, stratified_split
from attnbench.data.sources import TextCorpus, load_bbc_news

__all__ = [
    "BucketBySequenceLength",
    "TextBatch",
    "TextClassificationDataModule",
    "TextCorpus",
    "load_bbc_news",
    "stratified_split",
]
