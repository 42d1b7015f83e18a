"""20 Newsgroups through scikit-learn: the "bydate" train/test split with headers, footers and quotes
removed (the usual benchmark setting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.datasets import _twenty_newsgroups as tng
from sklearn.datasets import fetch_20newsgroups, get_data_home, load_files

from attnbench.data.corpus import SourceUnavailableError, TextCorpus
from attnbench.data.sources.network import reachable

NEWSGROUPS_URL = "https://ndownloader.figshare.com/files/5975967"
# scikit-learn's cache of the parsed archive in its data home (what a download writes)
NEWSGROUPS_CACHE = "20news-bydate_py3.pkz"
_STRIP = (tng.strip_newsgroup_header, tng.strip_newsgroup_footer, tng.strip_newsgroup_quoting)


def newsgroups_cache_file() -> Path:
    """Where scikit-learn keeps the downloaded corpus by default (for the cache key)."""
    return Path(get_data_home()) / NEWSGROUPS_CACHE


def _read_archive(root: Path) -> dict[str, Any]:
    """The train and test bunches from the extracted archive folder (``20news-bydate-train/``, ...)."""
    parts = {}
    for ours, folder in (("train", tng.TRAIN_FOLDER), ("test", tng.TEST_FOLDER)):
        if not (root / folder).is_dir():
            raise FileNotFoundError(f"data.path={root}: {folder}/ is missing next to {tng.TRAIN_FOLDER}/.")
        parts[ours] = load_files(str(root / folder), encoding="latin1")
    return parts


def _fetch(root: Path | None) -> dict[str, Any]:
    """The train and test bunches from scikit-learn's data home (``root`` or its default), downloaded
    there only when missing and the server is reachable."""
    home = get_data_home(str(root) if root else None)
    try:
        return {
            ours: fetch_20newsgroups(data_home=home, subset=ours, download_if_missing=False)
            for ours in ("train", "test")
        }
    except OSError:
        reason = reachable(NEWSGROUPS_URL)
        if reason:
            raise SourceUnavailableError(
                f"20 Newsgroups is not in {home} and its download server cannot be reached: {reason}. Fix: on "
                "a machine with network run `sklearn.datasets.fetch_20newsgroups(data_home=DIR)` (or extract "
                "20news-bydate.tar.gz into DIR), copy DIR here and set data.path=DIR."
            ) from None
        return {
            ours: fetch_20newsgroups(data_home=home, subset=ours, download_if_missing=True)
            for ours in ("train", "test")
        }


def load_20newsgroups(path: str | None) -> TextCorpus:
    """The 20 Newsgroups "bydate" train/test split with headers, footers and quotes removed.
    ``path``: scikit-learn's data home (holding its ``20news-bydate_py3.pkz`` cache), or the extracted
    archive folder with ``20news-bydate-train/`` and ``20news-bydate-test/``. Downloads to
    scikit-learn's data home only when that is reachable; otherwise fails at once."""
    root = Path(path).expanduser() if path else None
    if root is not None and not root.exists():
        raise FileNotFoundError(f"data.path={root}: no such folder (20 Newsgroups). Fix: point it at the folder.")
    parts = _read_archive(root) if root is not None and (root / tng.TRAIN_FOLDER).is_dir() else _fetch(root)
    label_names = list(parts["train"].target_names)
    texts, labels, ids, split = [], [], [], []
    for ours, bunch in parts.items():
        for text, target, filename in zip(bunch.data, bunch.target, bunch.filenames, strict=True):
            for strip in _STRIP:
                text = strip(text)
            texts.append(text)
            labels.append(int(target))
            ids.append(f"{ours}/{Path(filename).parent.name}/{Path(filename).name}")
            split.append(ours)
    return TextCorpus(texts, labels, label_names, ids, split=split)
