from attnbench.data.batching import BucketBySequenceLength, TextBatch
from attnbench.data.corpus import DataError, SourceUnavailableError, TextCorpus
from attnbench.data.datamodule import TextClassificationDataModule
from attnbench.data.sources.bbc_news import load_bbc_news
from attnbench.data.splits import stratified_split

__all__ = [
    "BucketBySequenceLength",
    "DataError",
    "SourceUnavailableError",
    "TextBatch",
    "TextClassificationDataModule",
    "TextCorpus",
    "load_bbc_news",
    "stratified_split",
]
