"""Test sets that test (issue 26): no validation or test input equals a training input, for every shipped
dataset config that builds offline, through the DataModule; duplicates and label conflicts counted per
split; generators that draw unseen evaluation items or say the space is too small; and the checks a user
makes blind otherwise (synthetic truncation, two files of one split, evaluation on other data, the hub
revision in the cache key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hydra.utils import instantiate

from attnbench.data import DataError, TextClassificationDataModule
from attnbench.data.dedup import ids_key
from attnbench.data.provenance import warn_if_data_differs
from attnbench.data.seq2seq.datamodule import Seq2SeqDataModule
from attnbench.data.seq2seq.generated import generate as generate_pairs
from attnbench.data.synthetic import generate as generate_synthetic
from attnbench.runtime.checkpoints import load_checkpoint
from attnbench.train import run

from .helpers import compose_config

GENERATED = ["s2s_copy", "s2s_reverse", "s2s_sort", "s2s_lookup", "s2s_numbers", "s2s_dates"]
SYNTHETIC = ["needle", "recall", "pair_match", "pair_recall"]


def text_keys(dm: TextClassificationDataModule, split: str) -> list[bytes]:
    ds = dm.datasets[split]
    pairs = ds.pair_ids if ds.pair_ids is not None else [None] * len(ds)
    return [ids_key(t, *([] if p is None else [p])) for t, p in zip(ds.ids, pairs, strict=True)]


def source_keys(dm: Seq2SeqDataModule, split: str) -> list[bytes]:
    return [ids_key(s) for s in dm.datasets[split].sources]


def assert_no_eval_input_in_train(dm: Any) -> None:
    """No val/test input (token ids after truncation) equals a training input, and the summary says 0."""
    keys = source_keys if isinstance(dm, Seq2SeqDataModule) else text_keys
    train = set(keys(dm, "train"))
    for split in ("val", "test"):
        assert len(dm.datasets[split]) > 0, split
        assert not train & set(keys(dm, split)), split
        assert dm.summary[f"{split}/in_train"] == 0, split


def shipped(name: str, *overrides: str) -> Any:
    """The DataModule of ``conf/data/<name>.yaml`` as Hydra composes it (cache off), set up."""
    cfg = compose_config([f"data={name}", "data.cache_dir=null", *overrides])
    dm = instantiate(cfg.data)
    dm.setup()
    return dm


# ---- the shipped datasets ------------------------------------------------------------------------


def test_bbc_news_duplicates_are_removed_before_splitting(bbc_datamodule) -> None:
    assert_no_eval_input_in_train(bbc_datamodule)
    s = bbc_datamodule.summary
    # 98 exact copies (same label), then one val and one test article whose first 400 tokens equal a
    # training article's
    assert (s["dedup_removed"], s["dedup_conflicts_dropped"]) == (98, 0)
    assert (s["val/dedup_truncated_removed"], s["test/dedup_truncated_removed"]) == (1, 1)
    assert (s["train/size"], s["val/size"], s["test/size"]) == (1701, 212, 212)


def test_bbc_news_without_dedup_leaks_as_the_issue_found() -> None:
    s = shipped("bbc_news", "data.dedup=none").summary
    assert (s["train/size"], s["val/size"], s["test/size"]) == (1779, 223, 223)
    assert (s["val/in_train"], s["test/in_train"]) == (16, 24)
    assert "dedup_removed" not in s


@pytest.mark.slow  # 5,600 sequences of up to 512 tokens each: 10-20 s on a busy core
@pytest.mark.parametrize("name", SYNTHETIC)
def test_shipped_synthetic_tasks_hold_no_eval_input_of_train(name: str) -> None:
    dm = shipped(name)
    assert_no_eval_input_in_train(dm)
    assert dm.summary["dedup_removed"] == 0  # the generator drew distinct inputs: nothing left to remove
    assert dm.summary["test/size"] == 4 * 200  # per length, as asked


@pytest.mark.parametrize("name", GENERATED)
def test_shipped_generated_seq2seq_tasks_hold_no_eval_source_of_train(name: str) -> None:
    dm = shipped(name)
    assert_no_eval_input_in_train(dm)
    assert dm.summary["dedup_removed"] == 0 and dm.summary["test/size"] == 200 * len(dm.length_labels)


def test_numbers_in_words_repeated_train_sources_without_dedup() -> None:
    s = shipped("s2s_numbers", "data.dedup=none").summary
    assert (s["val/in_train"], s["test/in_train"]) == (118, 123)  # of 800: mostly one-number sources


# ---- local files: copies and label conflicts, per split ---------------------------------------------


def write_splits(folder: Path, rows: dict[str, list[tuple[str, str]]], column: str = "label") -> Path:
    folder.mkdir(exist_ok=True)
    for split, items in rows.items():
        pd.DataFrame([{"text": t, column: y} for t, y in items]).to_csv(folder / f"{split}.csv", index=False)
    return folder


def filler(split: str, n: int) -> list[tuple[str, str]]:
    labels = ["sport", "tech", "food"]
    return [(f"{labels[i % 3]} {split} words number {i}", labels[i % 3]) for i in range(n)]


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """train: a text three times, a text the validation split repeats, one half of a label conflict;
    test: the other half, and a case/whitespace variant of a training text."""
    return write_splits(
        tmp_path / "planted",
        {
            "train": [*filler("train", 12), *[("alpha beta gamma", "sport")] * 3, ("shared text one", "tech"),
                      ("conflict words", "food")],
            "validation": [*filler("val", 6), ("shared text one", "tech")],
            "test": [*filler("test", 6), ("conflict words", "sport"), ("Shared  TEXT one", "tech")],
        },
    )  # fmt: skip


def test_local_copies_and_conflicts_are_counted_per_split(planted: Path) -> None:
    dm = TextClassificationDataModule.from_schema(source="local", path=str(planted), min_freq=1)
    dm.setup()
    s = dm.summary
    assert (s["dedup_removed"], s["dedup_conflicts_dropped"]) == (3, 2)
    assert (s["train/dedup_removed"], s["val/dedup_removed"], s["test/dedup_removed"]) == (2, 1, 0)
    assert (s["train/dedup_conflicts_dropped"], s["test/dedup_conflicts_dropped"]) == (1, 1)
    # lowercase=true makes "Shared  TEXT one" the token ids of a training text: it leaves after tokenising
    assert s["test/dedup_truncated_removed"] == 1
    assert (s["train/size"], s["val/size"], s["test/size"]) == (14, 6, 6)
    assert_no_eval_input_in_train(dm)


def test_normalized_dedup_folds_case_and_whitespace(planted: Path) -> None:
    dm = TextClassificationDataModule.from_schema(source="local", path=str(planted), dedup="normalized")
    dm.setup()
    s = dm.summary
    assert (s["dedup_removed"], s["test/dedup_removed"], s["test/dedup_truncated_removed"]) == (4, 1, 0)
    assert s["test/size"] == 6


def test_texts_made_one_by_truncation_leave_the_eval_split(tmp_path: Path) -> None:
    rows = {
        "train": [*filler("train", 6), ("a b c d e f and more", "sport")],
        "validation": filler("val", 3),
        "test": [*filler("test", 3), ("a b c d e f but another ending", "sport")],
    }
    folder = write_splits(tmp_path / "cut", rows)
    settings = {"source": "local", "path": str(folder), "min_freq": 1, "max_length": 6}
    kept = TextClassificationDataModule.from_schema(**settings)
    kept.setup()
    assert kept.summary["test/dedup_truncated_removed"] == 1 and kept.summary["test/size"] == 3
    leaky = TextClassificationDataModule.from_schema(**settings, dedup="none")
    leaky.setup()
    assert leaky.summary["test/in_train"] == 1 and leaky.summary["test/size"] == 4


def test_local_pairs_copies_and_conflicting_targets(tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    folder.mkdir()
    rows = {
        "train": [(f"train {i}", f"t{i}") for i in range(8)] + [("dup", "x"), ("dup", "x"), ("conf", "x")],
        "validation": [(f"val {i}", "v") for i in range(3)] + [("conf", "y")],
        "test": [(f"test {i}", "w") for i in range(3)] + [("dup", "x")],
    }
    for split, items in rows.items():
        pd.DataFrame([{"source": s, "target": t} for s, t in items]).to_csv(folder / f"{split}.csv", index=False)
    dm = Seq2SeqDataModule.from_schema(source="local_pairs", path=str(folder), tokenizer="word")
    dm.setup()
    s = dm.summary
    assert (s["train/dedup_removed"], s["test/dedup_removed"], s["dedup_conflicts_dropped"]) == (1, 1, 2)
    assert (s["train/size"], s["val/size"], s["test/size"]) == (9, 3, 3)
    assert_no_eval_input_in_train(dm)


# ---- generators: unseen evaluation items, or an error naming the key -----------------------------------


def test_generated_space_too_small_names_the_keys() -> None:
    tiny = {"task": "copy", "length": 1, "num_train": 20, "num_val": 5, "num_test": 5}  # 10 distinct sources
    with pytest.raises(DataError, match=r"length 1, train split\): only 10 of 20 .*data\.generate\.num_train"):
        generate_pairs(tiny, 0)
    repeated = generate_pairs(tiny, 0, dedup="none")  # the old behaviour on request
    assert len(repeated.sources) == 30 and len(set(repeated.sources)) == 10
    needle = {"task": "needle", "length": 2, "num_classes": 3, "num_train": 2, "num_val": 1, "num_test": 1}
    with pytest.raises(DataError, match=r"test split\): only 0 of 1 .*data\.synthetic\.num_train"):
        generate_synthetic(needle, seed=0)  # 3 distinct inputs, 4 asked


def test_generated_eval_items_differ_from_train_at_the_edge_of_the_space() -> None:
    sizes = {"num_train": 10, "num_val": 3, "num_test": 3}
    corpus = generate_pairs({"task": "reverse", "length": 2, "symbols": 4, **sizes}, 5)
    assert corpus.split is not None
    pairs = list(zip(corpus.sources, corpus.split, strict=True))
    by_split = {s: {src for src, sp in pairs if sp == s} for s in ("train", "val", "test")}
    assert len(set(corpus.sources)) == 16  # every one of the 4² sources once
    assert not by_split["train"] & (by_split["val"] | by_split["test"])


# ---- checks a user made blind -------------------------------------------------------------------------


def test_synthetic_max_length_that_cuts_the_sequence_is_an_error() -> None:
    dm = TextClassificationDataModule.from_schema(
        source="synthetic", max_length=32, min_freq=1,
        synthetic={"task": "needle", "length": 64, "num_train": 20, "num_val": 5, "num_test": 5},
    )  # fmt: skip
    with pytest.raises(
        DataError, match=r"data\.max_length=32 cuts 20 of the 20 generated train .*data\.max_length>=64"
    ):
        dm.setup()


def test_two_files_of_one_split_are_an_error(tmp_path: Path) -> None:
    folder = write_splits(tmp_path / "two", {"train": filler("train", 6), "test": filler("test", 3)})
    pd.DataFrame([{"text": "x y", "label": "sport"}]).to_json(folder / "train.jsonl", orient="records", lines=True)
    with pytest.raises(DataError, match=r"2 files of the train split: train\.csv, train\.jsonl"):
        TextClassificationDataModule.from_schema(source="local", path=str(folder)).setup()
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for name in ("train.csv", "validation.csv", "val.tsv"):
        sep = "\t" if name.endswith(".tsv") else ","
        pd.DataFrame([{"source": "a", "target": "b"}]).to_csv(pairs / name, sep=sep, index=False)
    with pytest.raises(DataError, match=r"2 files of the val split: val\.tsv, validation\.csv"):
        Seq2SeqDataModule.from_schema(source="local_pairs", path=str(pairs)).setup()


def test_eval_on_other_data_settings_says_so_in_one_line(make_cfg, tmp_path: Path) -> None:
    data = write_splits(tmp_path / "data", {"train": filler("train", 30), "test": filler("test", 9)})
    trained_on = ["data=local", f"data.path={data}", "data.min_freq=1", "encoder=bilstm", "debug=limit", "logger=none"]
    record = run(make_cfg(*trained_on, name="train"))
    ckpt = record["checkpoint"]
    state = load_checkpoint(ckpt)["TextClassificationDataModule"]
    assert state["data_config"]["split_seed"] == 1234 and len(state["processing_key"]) == 32
    same = make_cfg(f"ckpt_path={ckpt}", *trained_on, name="same", config_name="eval")
    assert warn_if_data_differs(same) is None
    other = make_cfg(f"ckpt_path={ckpt}", *trained_on, "data.split_seed=7", "data.dedup=none", config_name="eval")
    line = warn_if_data_differs(other)
    assert line is not None and "\n" not in line
    assert "dedup: 'exact' -> 'none'; split_seed: 1234 -> 7" in line and "may overlap" in line


def test_hub_cache_key_follows_the_downloaded_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    dm = TextClassificationDataModule.from_schema(source="hub", dataset="someone/reviews")
    never_downloaded = dm.processing_key()
    refs = tmp_path / "hub" / "datasets--someone--reviews" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    first = dm.processing_key()
    (refs / "main").write_text("b" * 40)
    assert len({never_downloaded, first, dm.processing_key()}) == 3


def test_eval_items_equal_to_a_training_input_are_dropped_and_counted() -> None:
    from attnbench.data.dedup import drop_eval_seen_in_train

    def keys(part: dict) -> list[bytes]:
        return [bytes(ids) for ids in part["ids"]]

    def pick(part: dict, rows: list[int]) -> dict:
        return {k: [v[i] for i in rows] for k, v in part.items()}

    def splits() -> dict:
        return {
            "train": {"ids": [[1, 2], [3, 4]], "label": [0, 1]},
            "val": {"ids": [[1, 2], [5, 6], [3, 4]], "label": [0, 1, 1]},
            "test": {"ids": [[7, 8]], "label": [1]},
        }

    got = splits()
    stats = drop_eval_seen_in_train(got, "exact", keys, pick, "example's token ids")
    assert stats == {"val/dedup_truncated_removed": 2, "test/dedup_truncated_removed": 0}
    assert got["val"] == {"ids": [[5, 6]], "label": [1]} and got["test"] == splits()["test"]
    unchanged = splits()
    assert drop_eval_seen_in_train(unchanged, "none", keys, pick, "x") == {} and unchanged == splits()
    all_seen = {**splits(), "test": {"ids": [[3, 4]], "label": [1]}}
    with pytest.raises(DataError, match=r"every test example's token ids, truncated to data\.max_length"):
        drop_eval_seen_in_train(all_seen, "exact", keys, pick, "example's token ids")
