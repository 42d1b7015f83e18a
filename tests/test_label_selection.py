"""Row filters of the data layer on local CSV files the tests write: ``data.labels`` (keep and order
classes), ``data.label_map`` (merge / rename / drop), ``data.max_tokens`` (drop long documents); their
counts in the summary, their part in the cache key, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from attnbench.config import validate
from attnbench.data import TextClassificationDataModule
from attnbench.data.corpus import DataError
from attnbench.data.filters import word_counts

# five sentiment grades, as SST-5 names them; each has its own words so every class is learnable
GRADES = {
    "very negative": "awful dreadful",
    "negative": "bad dull",
    "neutral": "fine okay",
    "positive": "good nice",
    "very positive": "superb wonderful",
}


def write_grades(tmp_path: Path, per_class: int = 10, long_every: int = 0) -> Path:
    """``per_class`` rows of each grade; with ``long_every`` = k, every k-th row of a class is 30 words
    long (the others 3 to 7)."""
    rows = []
    for label, words in GRADES.items():
        for i in range(per_class):
            n = 30 if long_every and i % long_every == 0 else 3 + i % 5
            rows.append({"text": " ".join([words.split()[i % 2]] * n), "label": label})
    path = tmp_path / "grades.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def dm_for(path: Path, **kwargs) -> TextClassificationDataModule:
    settings = {
        "source": "local",
        "path": str(path),
        "min_freq": 1,
        "max_length": 64,
        "batch_size": 4,
        "val_fraction": 0.2,
        "test_fraction": 0.2,
        "cache_dir": None,
        **kwargs,
    }
    return TextClassificationDataModule.from_schema(**settings)


def all_labels(dm: TextClassificationDataModule) -> torch.Tensor:
    return torch.cat([dm.datasets[s].labels for s in ("train", "val", "test")])


def test_labels_keep_the_listed_classes_in_the_listed_order(tmp_path: Path) -> None:
    dm = dm_for(write_grades(tmp_path), labels=["positive", "negative"])
    dm.setup("fit")
    assert dm.label_names == ["positive", "negative"]
    assert dm.num_classes == 2
    assert sum(len(dm.datasets[s]) for s in ("train", "val", "test")) == 20
    assert dm.summary["labels_dropped"] == 30
    # class ids follow the order of data.labels: every "good"/"nice" text is class 0
    for split in ("train", "val", "test"):
        ds = dm.datasets[split]
        good = {dm.tokenizer.token_to_id("good"), dm.tokenizer.token_to_id("nice")}
        for ids, y in zip(ds.ids, ds.labels.tolist(), strict=True):
            assert (int(ids[0]) in good) == (y == 0)
    assert dm.summary["train/classes"].keys() == {"positive", "negative"}


def test_label_map_merges_renames_and_drops(tmp_path: Path) -> None:
    label_map = {"very negative": "neg", "negative": "neg", "neutral": None, "positive": "pos", "very positive": "pos"}
    dm = dm_for(write_grades(tmp_path), label_map=label_map)
    dm.setup("fit")
    # new classes in the source's class order (local string labels are sorted: negative < neutral < ...)
    assert dm.label_names == ["neg", "pos"]
    assert dm.summary["label_map_dropped"] == 10
    assert torch.bincount(all_labels(dm)).tolist() == [20, 20]
    # then data.labels picks and orders among the mapped names
    dm2 = dm_for(write_grades(tmp_path), label_map=label_map, labels=["pos", "neg"])
    dm2.setup("fit")
    assert dm2.label_names == ["pos", "neg"]
    assert dm2.summary["labels_dropped"] == 0


def test_max_tokens_drops_long_documents_before_splitting(tmp_path: Path) -> None:
    path = write_grades(tmp_path, per_class=10, long_every=5)  # rows 0 and 5 of each class: 30 words
    dm = dm_for(path, max_tokens=30)  # >= 30 is dropped
    dm.setup("fit")
    assert dm.summary["max_tokens_dropped"] == 10
    assert sum(len(dm.datasets[s]) for s in ("train", "val", "test")) == 40
    assert max(dm.summary[f"{s}/len_max"] for s in ("train", "val", "test")) < 30
    kept = dm_for(path, max_tokens=31)
    kept.setup("fit")
    assert kept.summary["max_tokens_dropped"] == 0
    assert word_counts(["Hello, world!", "", "a-b c"]).tolist() == [4, 0, 4]


def test_filters_are_part_of_the_cache_key(tmp_path: Path) -> None:
    path = write_grades(tmp_path)
    cache = str(tmp_path / "cache")
    keys = {
        dm_for(path, cache_dir=cache, **kw).processing_key()
        for kw in (
            {},
            {"labels": ["positive", "negative"]},
            {"labels": ["negative", "positive"]},
            {"max_tokens": 10},
            {
                "label_map": {
                    "very negative": "n",
                    "negative": "n",
                    "neutral": None,
                    "positive": "p",
                    "very positive": "p",
                }
            },
        )
    }
    assert len(keys) == 5
    first = dm_for(path, cache_dir=cache, labels=["positive", "negative"])
    first.setup("fit")
    again = dm_for(path, cache_dir=cache, labels=["positive", "negative"])
    again.setup("fit")
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert again.summary["labels_dropped"] == 30 and again.label_names == ["positive", "negative"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": ["positive", "great"]}, r"data\.labels names label\(s\) \['great'\].*available labels: \["),
        ({"labels": ["positive"]}, r"data\.labels=.*at least two labels"),
        ({"labels": ["positive", "positive"]}, r"data\.labels lists \['positive'\] more than once"),
        (
            {"label_map": {"positive": "p", "negative": "n"}},
            r"data\.label_map does not say what to do with the source label\(s\) \['neutral', 'very negative', "
            r"'very positive'\]",
        ),
        (
            {
                "label_map": {
                    "positive": "p",
                    "negative": "n",
                    "neutral": None,
                    "very negative": "n",
                    "very positive": "p",
                    "great": "p",
                }
            },
            r"data\.label_map names label\(s\) \['great'\]",
        ),
        ({"label_map": dict.fromkeys(GRADES)}, r"data\.label_map maps every label to null"),
        ({"max_tokens": 1}, r"data\.max_tokens=1 drops every document"),
    ],
)
def test_bad_filters_fail_with_the_key_and_the_available_labels(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        dm_for(write_grades(tmp_path), **kwargs).setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, "data.max_tokens must be a positive integer"),
        ({"max_tokens": 2.5}, "data.max_tokens must be a positive integer"),
        ({"labels": "positive"}, "data.labels must be a list"),
        ({"label_map": ["positive"]}, "data.label_map must be a mapping"),
    ],
)
def test_bad_filter_types_are_rejected_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextClassificationDataModule.from_schema(**kwargs)


def test_filters_through_the_config(tmp_path: Path, make_cfg) -> None:
    """The schema accepts the keys (null values in the map included) and a run trains on the result."""
    from hydra.utils import instantiate

    path = write_grades(tmp_path)
    cfg = make_cfg(
        "data=local",
        f"data.path={path}",
        "data.min_freq=1",
        "data.labels=[positive,negative]",
        "data.max_tokens=100",
        "data.label_map={neutral: null}",
    )
    # keys with spaces cannot be written on the command line (Hydra's grammar), only in YAML or here
    cfg.data.label_map = {
        "very negative": "negative",
        "negative": "negative",
        "neutral": None,
        "positive": "positive",
        "very positive": "positive",
    }
    validate(cfg)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    assert dm.label_names == ["positive", "negative"]
    assert dm.summary["label_map_dropped"] == 10
