"""Your own files: CSV, TSV, JSONL or Parquet; one file (with or without a split column) or a folder with
one file per split."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from attnbench.data.corpus import SPLITS, DataError, TextCorpus, label_index
from attnbench.data.sources.columns import Columns, Rows

log = logging.getLogger(__name__)

# names a source may use for our "val" split, when the configured name is absent (local sources only)
VAL_ALIASES = ("val", "validation", "valid", "dev")
LOCAL_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


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


def read_table(path: Path, fmt: str | None = None) -> tuple[pd.DataFrame, int]:
    """A pandas DataFrame of the file (every CSV/TSV cell a string) and its count of non-UTF-8 lines."""
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


def _column(df: pd.DataFrame, name: str, key: str, path: Path) -> list[Any]:
    if name not in df.columns:
        raise DataError(
            f"{path}: no column {name!r} ({key}); available columns: {', '.join(map(str, df.columns))}. "
            f"Fix: set {key}=<one of them>."
        )
    return df[name].tolist()


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


def _split_files(root: Path, columns: Columns) -> list[tuple[Path, str | None]]:
    """The data files of folder ``root`` with the split each holds (files of no split are ignored)."""
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in LOCAL_FORMATS and p.is_file())
    stems = {p.stem for p in files}
    parts = [(p, _split_name(p.stem, columns, stems)) for p in files]
    parts = [(p, s) for p, s in parts if s is not None]
    check_one_file_per_split(parts, root)
    if not any(s == "train" for _, s in parts):
        raise DataError(
            f"data.path={root} is a folder but holds no training file (looked for "
            f"{columns.splits.get('train')}.csv/.tsv/.jsonl/.parquet; found {[p.name for p in files]}). "
            "Fix: name the files train.*, validation.*, test.* or set data.splits.train=<file stem>."
        )
    return parts


def check_one_file_per_split(parts: list[tuple[Path, str | None]], root: Path) -> None:
    """A :class:`DataError` when two files of folder ``root`` hold one split (``train.csv`` and
    ``train.jsonl``, or ``validation.csv`` and ``val.csv``): picking one would silently ignore the other."""
    by_split: dict[str, list[str]] = {}
    for path, split in parts:
        if split is not None:
            by_split.setdefault(split, []).append(path.name)
    for split, names in by_split.items():
        if len(names) > 1:
            raise DataError(
                f"data.path={root} holds {len(names)} files of the {split} split: {', '.join(sorted(names))}. "
                "Fix: keep one file per split (merge them, or move the others out of the folder)."
            )


def _row_splits(df: pd.DataFrame, file: Path, columns: Columns) -> list[str]:
    """Our split of each row from the file's split column; empty when the file has no such column."""
    if columns.split is None or columns.split not in df.columns:
        return []
    names = [str(v) for v in df[columns.split].tolist()]
    known = set(names)
    mapped = [_split_name(n, columns, known) for n in names]
    unknown = sorted({n for n, m in zip(names, mapped, strict=True) if m is None})
    if unknown:
        raise DataError(
            f"{file}: split column {columns.split!r} has values {unknown} that are not "
            f"{columns.splits} (or val/dev). Fix: set data.splits.train/val/test to your names."
        )
    return [m for m in mapped if m is not None]


def _read_part(rows: Rows, file: Path, file_split: str | None, columns: Columns, fmt: str | None) -> int:
    """Append the rows of one file; returns its count of non-UTF-8 lines."""
    df, bad = read_table(file, fmt)
    if len(df) == 0:
        raise DataError(
            f"{file} has no rows{f' (the {file_split} split)' if file_split else ''}. Fix: add rows "
            "or remove the file (a missing val/test split is carved from train)."
        )
    texts = _column(df, columns.text, "data.text_column", file)
    pairs = _column(df, columns.text_pair, "data.text_pair_column", file) if columns.text_pair else None
    labels = _column(df, columns.label, "data.label_column", file)
    if any(v is None or (isinstance(v, float) and v != v) or str(v).strip() == "" for v in labels):
        raise DataError(f"{file}: column {columns.label!r} has empty labels. Fix: fill or remove those rows.")
    # ids name the line a person would open: CSV/TSV line 1 is the header
    first = 2 if file.suffix.lower() in (".csv", ".tsv") else 1
    rows.add(texts, pairs, labels, [f"{file.name}:{i + first}" for i in range(len(df))])
    rows.split += [file_split] * len(df) if file_split is not None else _row_splits(df, file, columns)
    return bad


def load_local(path: str | Path | None, columns: Columns, fmt: str | None = None) -> TextCorpus:
    """One file (with or without a split column) or a folder with one file per split (``train.csv``,
    ``validation.csv``/``val.csv``, ``test.csv``; names from ``data.splits``)."""
    if not path:
        raise DataError("data=local needs data.path=<file or folder>. Fix: data.path=/path/to/data.csv")
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data.path: no such file or folder {root}. Fix: point data.path at your data.")
    parts = _split_files(root, columns) if root.is_dir() else [(root, None)]
    rows = Rows.for_columns(columns)
    non_utf8 = sum(_read_part(rows, file, file_split, columns, fmt) for file, file_split in parts)
    label_ids, label_names = label_index(rows.labels)
    return rows.corpus(label_ids, label_names, {"non_utf8_lines": non_utf8}, split=rows.split or None)


def file_fingerprint(path: str | Path) -> list[Any]:
    """Path, size and modification time of a file, or of every file under a folder (cheap; what
    ``make`` trusts)."""
    root = Path(path).expanduser()
    if not root.exists():
        return [str(root), "missing"]
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
