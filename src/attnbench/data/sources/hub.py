"""Hugging Face datasets: by hub name, or from a local copy (a folder of data files or a
``save_to_disk`` folder) for machines without network."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnbench.data.corpus import SPLITS, DataError, SourceUnavailableError, TextCorpus, label_index
from attnbench.data.sources.columns import Columns, Rows
from attnbench.data.sources.network import reachable

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)


def hub_offline_reason() -> str | None:
    """Why the Hugging Face Hub cannot be used now (offline env vars or no connection), or None."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var}={os.environ[var]} is set"
    return reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


def _local_copy_hint(dataset: str | None, subset: str | None) -> str:
    args = ", ".join(repr(a) for a in (dataset, subset) if a)
    return (
        f"Fix: on a machine with network run `datasets.load_dataset({args}).save_to_disk(DIR)` (or copy the "
        "dataset's data files, e.g. train.parquet/test.parquet, into DIR), then set data.path=DIR."
    )


def hub_revision(dataset: str | None) -> list[str] | None:
    """The commits the local Hugging Face Hub cache holds for ``dataset`` (its ``refs/*`` files: what
    ``load_dataset`` read last), for the data cache key: a new revision of the dataset on the hub, once
    downloaded, makes a new key. None when the dataset was never downloaded here (read without network)."""
    if not dataset:
        return None
    # huggingface_hub is imported here, not at the top: only hub sources need it, and it costs start-up time
    from huggingface_hub import constants

    refs = Path(constants.HF_HUB_CACHE) / f"datasets--{dataset.replace('/', '--')}" / "refs"
    if not refs.is_dir():
        return None
    return [f"{p.name}={p.read_text().strip()}" for p in sorted(refs.rglob("*")) if p.is_file()]


def _open_local_copy(path: str, dataset: str | None, subset: str | None) -> datasets.DatasetDict:
    # `datasets` is imported where a hub source is read: importing it adds about half a second to any run
    import datasets

    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"data.path={root}: no such folder (a local copy of hub dataset {dataset!r}). "
            + _local_copy_hint(dataset, subset)
        )
    try:
        if (root / "dataset_dict.json").is_file():
            return datasets.load_from_disk(str(root))
        return datasets.load_dataset(str(root), subset)
    except Exception as err:  # datasets raises many types; the user needs the folder and the reason
        raise DataError(f"data.path={root}: `datasets` cannot read it: {type(err).__name__}: {err}") from None


def open_hub_dataset(dataset: str | None, subset: str | None, path: str | None) -> datasets.DatasetDict:
    """The hub dataset's splits: from the local copy at ``path`` when given, else from the hub (failing
    at once, with the fix, when it is out of reach). Shared by the classification and seq2seq sources."""
    return _open_local_copy(path, dataset, subset) if path else _download(dataset, subset)


def _download(dataset: str | None, subset: str | None) -> datasets.DatasetDict:
    import datasets  # see _open_local_copy

    if not dataset:
        raise DataError("data=hub needs data.dataset=<hub name> or data.path=<local copy>.")
    reason = hub_offline_reason()
    if reason:
        raise SourceUnavailableError(
            f"data.dataset={dataset!r} comes from the Hugging Face Hub, which cannot be reached: {reason}. "
            + _local_copy_hint(dataset, subset)
        )
    try:
        return datasets.load_dataset(dataset, subset)
    except Exception as err:
        raise DataError(
            f"data.dataset={dataset!r} (subset {subset!r}) could not be loaded from the Hugging Face Hub: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}. Fix: check the name on "
            "https://huggingface.co/datasets, or " + _local_copy_hint(dataset, subset)[5:]
        ) from None


def _read_split(
    rows: Rows, ds: datasets.Dataset, theirs: str, columns: Columns, where: str, class_names: list[str] | None
) -> tuple[list[str] | None, int]:
    """Append the labelled rows of hub split ``theirs``; returns the ClassLabel names (once a split has
    them, -1 means unlabelled in every split) and the number of unlabelled rows dropped."""
    import datasets  # see _open_local_copy

    missing = [c for c in (columns.text, columns.label, columns.text_pair) if c and c not in ds.column_names]
    if missing:
        key = {
            columns.text: "data.text_column",
            columns.label: "data.label_column",
            columns.text_pair: "data.text_pair_column",
        }[missing[0]]
        raise DataError(
            f"{where}, split {theirs!r}: no column {missing[0]!r} ({key}); available columns: "
            f"{', '.join(ds.column_names)}. Fix: set {key}=<one of them>."
        )
    feature = ds.features[columns.label]
    if isinstance(feature, datasets.ClassLabel):
        class_names = list(feature.names)
    y = ds[columns.label]
    keep = [i for i, v in enumerate(y) if not (class_names is not None and v < 0)]
    column_text = ds[columns.text]
    column_pair = ds[columns.text_pair] if columns.text_pair else None
    pairs = [column_pair[i] for i in keep] if column_pair is not None else None
    rows.add([column_text[i] for i in keep], pairs, [y[i] for i in keep], [f"{theirs}/{i}" for i in keep])
    return class_names, len(y) - len(keep)


def load_hub(dataset: str | None, subset: str | None, path: str | None, columns: Columns) -> TextCorpus:
    """A Hugging Face dataset by hub name, or from ``path``: a folder of data files that
    ``load_dataset`` reads, or a ``save_to_disk`` folder. Rows whose ClassLabel is -1 (unlabelled test
    sets such as GLUE's) are dropped with a count."""
    dd = open_hub_dataset(dataset, subset, path)
    where = f"hub dataset {dataset or path!r}"
    rows = Rows.for_columns(columns)
    class_names: list[str] | None = None
    unlabelled = 0
    for ours in SPLITS:
        theirs = columns.splits.get(ours)
        if theirs is None:
            continue
        if theirs not in dd:
            raise DataError(
                f"{where} has no split {theirs!r} (data.splits.{ours}); available: {list(dd.keys())}. "
                f"Fix: data.splits.{ours}=<one of them> or null to carve it from train."
            )
        n_before = len(rows.texts)
        class_names, dropped = _read_split(rows, dd[theirs], theirs, columns, where, class_names)
        rows.split += [ours] * (len(rows.texts) - n_before)
        unlabelled += dropped
    if unlabelled:
        log.info("%s: dropped %d unlabelled row(s) (label -1)", where, unlabelled)
    labels: list[Any] = rows.labels
    if class_names is not None:
        label_ids, label_names = [int(v) for v in labels], class_names
    else:
        label_ids, label_names = label_index(labels)
    return rows.corpus(label_ids, label_names, {"unlabelled_dropped": unlabelled}, split=rows.split)
