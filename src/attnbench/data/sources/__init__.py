"""Text sources: each returns a :class:`~attnbench.data.corpus.TextCorpus` (texts, integer labels, label
names, and where the source defines them, its own splits and a second text per example).

A source knows nothing of tokenization or models; the DataModule turns corpora into tensors.
Sources (``data.source``): ``bbc_news`` (package data, :mod:`.bbc_news`), ``local`` (CSV/TSV/JSONL/
Parquet, :mod:`.local`), ``hub`` (Hugging Face ``datasets``, :mod:`.hub`), ``20newsgroups``
(scikit-learn, :mod:`.newsgroups`), ``synthetic`` (:mod:`attnbench.data.synthetic`); :mod:`.registry`
picks one.
"""

from attnbench.data.corpus import DataError, SourceUnavailableError
from attnbench.data.sources.columns import Columns
from attnbench.data.sources.local import file_fingerprint
from attnbench.data.sources.registry import SOURCES, SourceSpec, load_source

__all__ = ["SOURCES", "Columns", "DataError", "SourceSpec", "SourceUnavailableError", "file_fingerprint", "load_source"]
