"""The seq2seq data module: generated and local pairs, splits, reverse_source, the cache, length
buckets, and every bad input with the pair or file that shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from attnbench.data.corpus import SourceUnavailableError
from attnbench.data.seq2seq.corpus import DataError
from attnbench.data.seq2seq.datamodule import Seq2SeqDataModule
from attnbench.data.seq2seq.prepare import length_buckets
from attnbench.data.seq2seq.vocab import BOS_ID, EOS_ID

GEN = {"task": "reverse", "length": [3, 6], "num_train": 12, "num_val": 4, "num_test": 4}


def test_generated_batches_frame_targets_with_bos_and_eos() -> None:
    dm = Seq2SeqDataModule.from_schema(generate=GEN, batch_size=5)
    dm.setup()
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [24, 8, 8]
    batch = next(iter(dm.test_dataloader()))
    assert torch.all(batch.target_in[:, 0] == BOS_ID)
    for i in range(len(batch)):
        n = int(batch.source_lengths[i])
        src = [dm.source_vocab.tokens[t] for t in batch.source[i, :n].tolist()]
        out = batch.target_out[i].tolist()
        assert out[n] == EOS_ID and [dm.target_vocab.tokens[t] for t in out[:n]] == src[::-1]
        assert int(batch.lengths[i]) == n  # the generator's length axis
    kwargs = dm.task_kwargs()
    assert kwargs["length_edges"] == [3, 6] and kwargs["length_labels"] == ["3", "6"]
    assert kwargs["target_vocab"]["kind"] == "char"


def test_reverse_source_reverses_the_source_only() -> None:
    plain, flipped = (
        Seq2SeqDataModule.from_schema(generate=GEN),
        Seq2SeqDataModule.from_schema(generate=GEN, reverse_source=True),
    )
    plain.setup()
    flipped.setup()
    a, b = plain.datasets["train"], flipped.datasets["train"]
    assert all(torch.equal(x.flip(0), y) for x, y in zip(a.sources, b.sources, strict=True))
    assert all(torch.equal(x, y) for x, y in zip(a.targets, b.targets, strict=True))


def test_the_cache_is_hit_the_second_time(tmp_path: Path) -> None:
    first = Seq2SeqDataModule.from_schema(generate=GEN, cache_dir=str(tmp_path / "cache"))
    first.setup()
    again = Seq2SeqDataModule.from_schema(generate=GEN, cache_dir=str(tmp_path / "cache"))
    again.setup()
    assert (first.summary["cache"], again.summary["cache"]) == ("built", "hit")
    assert again.split_ids == first.split_ids


def test_vocabularies_survive_a_checkpoint() -> None:
    dm = Seq2SeqDataModule.from_schema(generate=GEN)
    dm.setup()
    restored = Seq2SeqDataModule.from_schema(generate={**GEN, "symbols": 4})
    restored.load_state_dict(dm.state_dict())
    restored.setup()
    assert restored.target_vocab.tokens == dm.target_vocab.tokens


def write_pairs(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        pd.DataFrame(rows).to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_local_pairs_in_every_format(tmp_path: Path, suffix: str) -> None:
    rows = [{"en": f"the cat {i}", "de": f"die katze {i}"} for i in range(20)]
    path = write_pairs(tmp_path / f"pairs{suffix}", rows)
    dm = Seq2SeqDataModule.from_schema(
        source="local_pairs", path=str(path), source_column="en", target_column="de", tokenizer="word"
    )
    dm.setup()
    assert sum(len(d) for d in dm.datasets.values()) == 20 and len(dm.datasets["test"]) == 2
    assert "katze" in dm.target_vocab.tokens and "katze" not in dm.source_vocab.tokens


def test_local_pairs_folder_with_split_files(tmp_path: Path) -> None:
    for name, n in (("train", 8), ("dev", 3)):  # distinct sources in each file: no dev pair repeats a train pair
        write_pairs(tmp_path / f"{name}.csv", [{"source": f"{name}{i}", "target": f"b{i}"} for i in range(n)])
    dm = Seq2SeqDataModule.from_schema(source="local_pairs", path=str(tmp_path), tokenizer="word")
    dm.setup()
    assert len(dm.datasets["val"]) == 3 and len(dm.datasets["test"]) >= 1
    assert dm.split_ids["val"][0] == "dev.csv:2"


@pytest.mark.parametrize(
    ("rows", "settings", "message"),
    [
        ([{"src": "a", "target": "b"}], {}, r"no column 'source' \(data\.source_column\).*Fix: set"),
        ([{"source": f"a b{i}", "target": ""} for i in range(12)], {}, r"pairs\.csv:\d+: the target is empty"),
        (
            [{"source": f"a b c d{i}", "target": "x"} for i in range(12)],
            {"max_length": 3},
            r"more than data\.max_length=3.*truncation",
        ),
        (
            [{"source": "a", "target": "x", "split": "holdout"}] * 3,
            {},
            r"split column 'split' has values \['holdout'\]",
        ),
    ],
)
def test_bad_local_pairs_are_named(tmp_path: Path, rows: list[dict], settings: dict, message: str) -> None:
    path = write_pairs(tmp_path / "pairs.csv", rows)
    dm = Seq2SeqDataModule.from_schema(source="local_pairs", path=str(path), tokenizer="word", **settings)
    with pytest.raises(DataError, match=message):
        dm.setup()


def test_truncation_cuts_long_sources(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.csv", [{"source": f"{i} a b c d", "target": "x"} for i in range(12)])
    dm = Seq2SeqDataModule.from_schema(
        source="local_pairs", path=str(path), tokenizer="word", max_length=3, truncation=True
    )
    dm.setup()
    assert max(dm.datasets["train"].lengths) == 3


def test_bad_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.source=.web."):
        Seq2SeqDataModule.from_schema(source="web")
    with pytest.raises(DataError, match=r"data\.max_lenght"):
        Seq2SeqDataModule.from_schema(max_lenght=3)
    with pytest.raises(DataError, match=r"needs data\.path"):
        Seq2SeqDataModule.from_schema(source="local_pairs").setup()
    with pytest.raises(FileNotFoundError, match="no such file"):
        Seq2SeqDataModule.from_schema(source="local_pairs", path=str(tmp_path / "missing.csv")).setup()


def test_length_buckets_exact_or_binned() -> None:
    assert length_buckets([5, 10, 5, 20]) == ([5, 10, 20], ["5", "10", "20"])
    edges, labels = length_buckets(list(range(1, 61)))
    assert edges[-1] == 60 and len(edges) == 12 and labels[0] == "1-5" and labels[-1] == "56-60"


def test_hub_translation_sets_fail_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dm = Seq2SeqDataModule.from_schema(
        source="hub",
        dataset="opus_books",
        subset="de-en",
        source_column="translation.en",
        target_column="translation.de",
        tokenizer="word",
    )
    with pytest.raises(SourceUnavailableError, match=r"HF_HUB_OFFLINE=1 is set.*save_to_disk"):
        dm.setup()


def test_hub_translation_column_from_a_local_copy(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = {"translation": [{"en": f"the cat {i}", "de": f"die katze {i}"} for i in range(12)]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "books"))
    dm = Seq2SeqDataModule.from_schema(
        source="hub",
        path=str(tmp_path / "books"),
        source_column="translation.en",
        target_column="translation.de",
        tokenizer="word",
    )
    dm.setup()
    assert sum(len(d) for d in dm.datasets.values()) == 12 and "katze" in dm.target_vocab.tokens
    bad = Seq2SeqDataModule.from_schema(
        source="hub",
        path=str(tmp_path / "books"),
        source_column="translation.fr",
        target_column="translation.de",
        tokenizer="word",
    )
    with pytest.raises(DataError, match=r"no language 'fr' \(data\.source_column\); it has \['de', 'en'\]"):
        bad.setup()
