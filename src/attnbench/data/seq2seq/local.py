"""Your own parallel text (``data=local_pairs``): one CSV/TSV/JSONL/Parquet file with source and
target columns (and optionally a split column), or a folder with one file per split
(``train.*``, ``validation.*``/``val.*``/``dev.*``, ``test.*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attnbench.data.seq2seq.corpus import DataError, PairCorpus
from attnbench.data.sources.local import LOCAL_FORMATS, check_one_file_per_split, read_table

SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "dev": "val", "valid": "val", "test": "test"}


def _cells(df: Any, column: str, key: str, path: Path) -> list[str]:
    if column not in df.columns:
        raise DataError(
            f"{path}: no column {column!r} ({key}); available columns: "
            f"{', '.join(map(str, df.columns))}. Fix: set {key}=<one of them>."
        )
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[column].tolist()]


def _files(root: Path) -> list[tuple[Path, str | None]]:
    if not root.is_dir():
        return [(root, None)]
    files = [
        (p, SPLIT_NAMES.get(p.stem.lower()))
        for p in sorted(root.iterdir())
        if p.is_file() and p.suffix.lower() in LOCAL_FORMATS
    ]
    files = [(p, s) for p, s in files if s is not None]
    check_one_file_per_split(files, root)
    if not any(s == "train" for _, s in files):
        raise DataError(
            f"data.path={root} is a folder without a train.csv/.tsv/.jsonl/.parquet. Fix: name the "
            "files train.*, validation.* (or val.*, dev.*) and test.*"
        )
    return files


def _split_column(df: Any, column: str | None, path: Path) -> list[str] | None:
    if column is None or column not in df.columns:
        return None
    names = [str(v).strip().lower() for v in df[column].tolist()]
    unknown = sorted({n for n in names if n not in SPLIT_NAMES})
    if unknown:
        raise DataError(
            f"{path}: split column {column!r} has values {unknown[:5]}; use train, validation "
            "(or val, dev) and test. Fix: rename them or set data.split_column=null"
        )
    return [SPLIT_NAMES[n] for n in names]


def load_pairs(
    path: str | None, source_column: str, target_column: str, split_column: str | None, fmt: str | None = None
) -> PairCorpus:
    """The pairs of ``path``; rows keep ``file:line`` ids for error messages."""
    if not path:
        raise DataError("data=local_pairs needs data.path=<file or folder>. Fix: data.path=/path/to/pairs.tsv")
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data.path: no such file or folder {root}. Fix: point data.path at your pairs.")
    corpus = PairCorpus([], [], [], split=[])
    for file, file_split in _files(root):
        df, _ = read_table(file, fmt)
        if len(df) == 0:
            raise DataError(f"{file} has no rows. Fix: add pairs or remove the file.")
        corpus.sources += _cells(df, source_column, "data.source_column", file)
        corpus.targets += _cells(df, target_column, "data.target_column", file)
        first_line = 2 if file.suffix.lower() in (".csv", ".tsv") else 1  # after the header row
        corpus.ids += [f"{file.name}:{i + first_line}" for i in range(len(df))]
        names = [file_split] * len(df) if file_split else _split_column(df, split_column, file)
        if names is None:
            corpus.split = None
        elif corpus.split is not None:
            corpus.split += names
    return corpus
