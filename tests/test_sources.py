"""Every data source on small files the tests write themselves; text pairs; tokenizers; pretrained
vectors; and a clear error, naming the file, column or key and the fix, for every bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from attnbench.data import TextClassificationDataModule
from attnbench.data.corpus import DataError, SourceUnavailableError
from attnbench.data.sources.network import reachable
from attnbench.data.sources.newsgroups import NEWSGROUPS_URL
from attnbench.data.tokenize import PAD_ID, UNK_ID

WORDS = {
    "sport": "match goal team player score win league coach",
    "tech": "software chip computer network data code phone app",
    "food": "bread cheese soup salad pasta bake cook taste",
}


def make_rows(n_per_class: int = 20, seed: int = 0) -> list[dict]:
    """Short texts whose words give their class away (so a tiny model can learn them)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for label, words in WORDS.items():
        vocab = words.split()
        for _ in range(n_per_class):
            n = int(torch.randint(3, 12, (1,), generator=g))
            text = " ".join(vocab[int(i)] for i in torch.randint(len(vocab), (n,), generator=g))
            rows.append({"text": text, "label": label})
    return rows


def small_dm(path: Path | str, **kwargs) -> TextClassificationDataModule:
    settings = {"source": "local", "path": str(path), "min_freq": 1, "max_length": 16, "batch_size": 8, **kwargs}
    return TextClassificationDataModule.from_schema(**settings)


def all_batches(dm: TextClassificationDataModule, split: str) -> list:
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader, "test": dm.test_dataloader}[split]()
    return list(loader)


# ---- local files --------------------------------------------------------------------------------


def test_local_csv_without_split_column_is_split_stratified(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    pd.DataFrame(make_rows()).to_csv(path, index=False)
    dm = small_dm(path)
    dm.setup()
    assert dm.label_names == ["food", "sport", "tech"]  # strings, sorted
    sizes = {k: len(v) for k, v in dm.datasets.items()}
    assert sizes == {"train": 48, "val": 6, "test": 6}
    for split in ("val", "test"):
        assert torch.bincount(dm.datasets[split].labels).tolist() == [2, 2, 2]  # stratified
    assert sorted(i for ids in dm.split_ids.values() for i in ids) == sorted(f"reviews.csv:{i}" for i in range(2, 62))
    assert dm.summary["train/classes"] == {"food": 16, "sport": 16, "tech": 16}
    assert dm.summary["label_names"] == dm.label_names
    # the tokenizer knows the words; a batch decodes back to the text
    batch = all_batches(dm, "test")[0]
    row = 0
    text = " ".join(dm.tokenizer.id_to_token(i) for i in batch.ids[row, : batch.lengths[row]].tolist())
    assert text.split()[0] in " ".join(WORDS.values()).split()
    again = small_dm(path, split_seed=1234)
    again.setup()
    assert again.split_ids == dm.split_ids


def test_local_file_with_split_column_and_integer_labels(tmp_path: Path) -> None:
    rows = make_rows()
    names = {"food": 7, "sport": 10, "tech": 2}  # integer labels sort numerically (2 < 7 < 10)
    for i, r in enumerate(rows):
        r["label"] = names[r["label"]]
        r["part"] = ("train", "train", "train", "dev", "test")[i % 5]
    path = tmp_path / "data.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    dm = small_dm(path, split_column="part", splits={"val": "dev"})
    dm.setup()
    assert dm.label_names == ["2", "7", "10"]
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 36, "val": 12, "test": 12}
    assert all(i.startswith("data.tsv:") for i in dm.split_ids["val"])
    first_val = int(dm.split_ids["val"][0].split(":")[1]) - 2  # file line → row
    assert dm.label_names[int(dm.datasets["val"].labels[0])] == str(rows[first_val]["label"])


def test_local_folder_with_one_file_per_split(tmp_path: Path) -> None:
    rows = make_rows()
    folder = tmp_path / "data"
    folder.mkdir()
    parts = {"train": rows[0::3] + rows[1::3], "validation": rows[2::6], "test": rows[5::6]}
    for name, part in parts.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    dm = small_dm(folder)
    dm.setup()
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 40, "val": 10, "test": 10}
    assert all(i.startswith("validation.jsonl:") for i in dm.split_ids["val"])


def test_local_parquet_with_train_and_test_only_carves_val_from_train(tmp_path: Path) -> None:
    rows = make_rows()
    folder = tmp_path / "pq"
    folder.mkdir()
    pd.DataFrame(rows[0::2]).to_parquet(folder / "train.parquet")
    pd.DataFrame(rows[1::2]).to_parquet(folder / "test.parquet")
    dm = small_dm(folder, val_fraction=0.2)
    dm.setup()
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 24, "val": 6, "test": 30}


def test_local_text_pairs(tmp_path: Path) -> None:
    rows = make_rows(10)
    pairs = [
        {"premise": r["text"], "hypothesis": " ".join(r["text"].split()[:2]) + " and more words here", "label": i % 2}
        for i, r in enumerate(rows)
    ]
    path = tmp_path / "pairs.csv"
    pd.DataFrame(pairs).to_csv(path, index=False)
    dm = small_dm(path, text_column="premise", text_pair_column="hypothesis", label_column="label")
    dm.setup()
    assert dm.is_pair and dm.model_kwargs() == {"pair": True}
    assert "train/pair_len_p50" in dm.summary
    seen = []
    for batch in all_batches(dm, "train"):
        assert batch.is_pair
        assert batch.pair_ids.shape[1] == int(batch.pair_lengths.max())  # padded on its own
        assert torch.equal(batch.pair_mask.sum(1), batch.pair_lengths)
        assert (batch.pair_ids[~batch.pair_mask] == PAD_ID).all()
        seen += batch.index.tolist()
    assert sorted(seen) == list(range(len(dm.datasets["train"])))


# ---- hub (a local dataset folder that load_dataset reads as it reads a hub dataset) --------------


def test_hub_source_from_a_local_dataset_folder(tmp_path: Path) -> None:
    rows = make_rows()
    folder = tmp_path / "imdb_copy"
    folder.mkdir()
    pd.DataFrame(rows[0::2]).to_parquet(folder / "train.parquet")
    pd.DataFrame(rows[1::2]).to_parquet(folder / "test.parquet")
    dm = TextClassificationDataModule.from_schema(
        source="hub", dataset="stanfordnlp/imdb", path=str(folder), min_freq=1, splits={"val": None}
    )
    dm.setup()
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 27, "val": 3, "test": 30}
    assert dm.label_names == ["food", "sport", "tech"]


def test_hub_save_to_disk_copy_with_class_labels_and_pairs(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features(
        {
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    rows = make_rows(20)

    def part(labels: list[int], start: int) -> datasets.Dataset:  # rows of their own: no input in two splits
        texts = [r["text"] for r in rows[start : start + len(labels)]]
        return datasets.Dataset.from_dict(
            {"premise": texts, "hypothesis": [t[::-1] for t in texts], "label": labels}, features=features
        )

    dd = datasets.DatasetDict(
        {"train": part([0, 1, 2] * 10, 0), "validation": part([0, 1, 2] * 3, 30), "test": part([0, 1, 2, -1] * 3, 39)}
    )
    dd.save_to_disk(str(tmp_path / "snli"))
    dm = TextClassificationDataModule.from_schema(
        source="hub",
        dataset="stanfordnlp/snli",
        path=str(tmp_path / "snli"),
        text_column="premise",
        text_pair_column="hypothesis",
        min_freq=1,
    )
    dm.setup()
    assert dm.label_names == ["entailment", "neutral", "contradiction"]  # the ClassLabel's names
    assert dm.is_pair and len(dm.datasets["test"]) == 9 and dm.summary["unlabelled_dropped"] == 3

    bad = TextClassificationDataModule.from_schema(source="hub", path=str(tmp_path / "snli"), text_column="sentence")
    with pytest.raises(DataError, match=r"no column 'sentence' \(data.text_column\).*premise, hypothesis, label"):
        bad.setup()
    bad = TextClassificationDataModule.from_schema(
        source="hub", path=str(tmp_path / "snli"), text_column="premise", splits={"test": "dev"}
    )
    with pytest.raises(DataError, match=r"no split 'dev' \(data.splits.test\).*'validation'"):
        bad.setup()


@pytest.mark.parametrize(
    "env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}], ids=["offline-env", "unreachable"]
)
def test_hub_without_network_fails_fast_and_says_how_to_use_a_local_copy(env: dict, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    dm = TextClassificationDataModule.from_schema(source="hub", dataset="stanfordnlp/imdb")
    started = time.perf_counter()
    with pytest.raises(SourceUnavailableError, match=r"stanfordnlp/imdb.*cannot be reached.*data.path=DIR"):
        dm.setup()
    assert time.perf_counter() - started < 10


def test_hub_local_copy_missing(tmp_path: Path) -> None:
    dm = TextClassificationDataModule.from_schema(source="hub", dataset="stanfordnlp/imdb", path=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=r"nope.*save_to_disk"):
        dm.setup()


# ---- 20 Newsgroups (scikit-learn) -----------------------------------------------------------------


def test_20newsgroups_from_the_extracted_archive(tmp_path: Path) -> None:
    for part, n in (("20news-bydate-train", 6), ("20news-bydate-test", 2)):
        for group in ("sci.space", "rec.autos"):
            folder = tmp_path / part / group
            folder.mkdir(parents=True)
            for i in range(n):
                number = i + 100 * part.endswith("test")  # no test text repeats a training one
                body = f"From: a@b.c\nSubject: x\n\n{group.split('.')[1]} words number {number}\n\n-- \nsignature"
                (folder / str(1000 + i)).write_text(body, encoding="latin1")
    dm = TextClassificationDataModule.from_schema(
        source="20newsgroups", path=str(tmp_path), min_freq=1, val_fraction=0.25
    )
    dm.setup()
    assert dm.label_names == ["rec.autos", "sci.space"]
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 9, "val": 3, "test": 4}
    vocab = dm.tokenizer.get_vocab()
    assert "space" in vocab and "subject" not in vocab and "signature" not in vocab  # headers/footers removed


def test_20newsgroups_offline_fails_fast(tmp_path: Path) -> None:
    if reachable(NEWSGROUPS_URL) is None:
        pytest.skip("the 20 Newsgroups server is reachable here; this test needs it not to be")
    dm = TextClassificationDataModule.from_schema(source="20newsgroups", path=str(tmp_path))
    with pytest.raises(SourceUnavailableError, match=r"not in .*fetch_20newsgroups\(data_home=DIR\).*data.path"):
        dm.setup()


# ---- tokenizers, truncation, pretrained vectors ------------------------------------------------------


def test_bpe_tokenizer_and_left_truncation(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame(make_rows()).to_csv(path, index=False)
    bpe = small_dm(path, tokenizer="bpe", max_vocab=60, max_length=3, truncation_side="left")
    bpe.setup()
    assert bpe.vocab_size <= 60 and bpe.summary["test/oov_rate"] == 0  # words split into known pieces
    enc = bpe.tokenizer.encode("teamcodecheese", add_special_tokens=False)  # unseen word of seen pieces
    assert len(enc.ids) > 1 and UNK_ID not in enc.ids
    word_left = small_dm(path, max_length=2, truncation_side="left")
    word_left.setup()
    row = word_left.split_ids["train"][0]
    text = pd.read_csv(path).iloc[int(row.split(":")[1]) - 2]["text"]
    kept = [word_left.tokenizer.id_to_token(i) for i in word_left.datasets["train"].ids[0].tolist()]
    assert kept == text.split()[-2:]


def test_pretrained_vectors_coverage_and_values(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame(make_rows()).to_csv(path, index=False)
    glove = tmp_path / "vectors.txt"
    glove.write_text("3 4\nMatch 1 2 3 4\ncode 0.5 0.5 0.5 0.5\nunrelated 9 9 9 9\n")  # word2vec header
    dm = small_dm(path, embeddings_path=str(glove))
    dm.setup()
    vocab = dm.tokenizer.get_vocab()
    assert dm.embeddings.shape == (dm.vocab_size, 4)
    assert dm.embeddings[vocab["match"]].tolist() == [1, 2, 3, 4]  # lowercased to match the tokenizer
    assert dm.embeddings[PAD_ID].abs().sum() == 0
    assert dm.summary["embedding_coverage"] == pytest.approx(2 / (dm.vocab_size - 2))
    with pytest.raises(FileNotFoundError, match=r"data\.embeddings_path"):
        TextClassificationDataModule.from_schema(
            source="local", path=str(path), embeddings_path=str(tmp_path / "x.txt")
        ).setup()


# ---- bad input -------------------------------------------------------------------------------------


def write_csv(tmp_path: Path, rows: list[dict], name: str = "d.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data.path.*nope.csv"):
        small_dm(tmp_path / "nope.csv").setup()
    with pytest.raises(DataError, match=r"data=local needs data\.path"):
        TextClassificationDataModule.from_schema(source="local").setup()


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"d.xlsx: unknown file format '.xlsx'.*data.format"):
        small_dm(path).setup()


@pytest.mark.parametrize(
    ("key", "value"), [("text_column", "review"), ("label_column", "stars"), ("text_pair_column", "hypothesis")]
)
def test_missing_column_lists_the_available_ones(tmp_path: Path, key: str, value: str) -> None:
    path = write_csv(tmp_path, make_rows())
    with pytest.raises(DataError, match=rf"d.csv: no column '{value}' \(data.{key}\); available columns: text, label"):
        small_dm(path, **{key: value}).setup()


def test_empty_texts_are_dropped_with_a_count_or_rejected(tmp_path: Path) -> None:
    rows = make_rows()
    rows[3]["text"], rows[25]["text"] = "   ", ""
    path = write_csv(tmp_path, rows)
    dm = small_dm(path)
    dm.setup()
    assert dm.summary["empty_dropped"] == 2 and sum(len(d) for d in dm.datasets.values()) == 58
    with pytest.raises(DataError, match=r"2 empty or whitespace-only text\(s\).*d.csv:5.*data.drop_empty=true"):
        small_dm(path, drop_empty=False).setup()


def test_label_unseen_in_train(tmp_path: Path) -> None:
    rows = make_rows()
    for i, r in enumerate(rows):
        r["split"] = "train" if i % 4 else "test"
    rows.append({"text": "an odd one", "label": "weather", "split": "test"})
    path = write_csv(tmp_path, rows)
    with pytest.raises(DataError, match=r"\['weather'\] occur in the test split .*d.csv:62.* never in train"):
        small_dm(path).setup()


def test_non_utf8_bytes_are_replaced_and_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path, make_rows())
    lines = path.read_bytes().split(b"\n")
    for i in (1, 2, 30):  # three rows (Latin-1 "caf\xe9"), one per class-mixed position
        lines[i] = b"caf\xe9 " + lines[i]
    path.write_bytes(b"\n".join(lines))
    dm = small_dm(path)
    dm.setup()
    assert dm.summary["non_utf8_lines"] == 3
    assert "\ufffd" in dm.tokenizer.get_vocab()  # the replacement character, split off as punctuation


def test_empty_split(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame(make_rows()).to_csv(folder / "train.csv", index=False)
    (folder / "test.csv").write_text("text,label\n")
    with pytest.raises(DataError, match=r"test.csv has no rows"):
        small_dm(folder).setup()
    (folder / "test.csv").write_text("text,label\n  ,sport\n")
    with pytest.raises(DataError, match=r"the test split is empty after dropping empty texts"):
        small_dm(folder).setup()


def test_too_few_examples_to_carve_a_split(tmp_path: Path) -> None:
    path = write_csv(tmp_path, make_rows(1))
    with pytest.raises(DataError, match=r"cannot split 3 examples stratified.*Fix"):
        small_dm(path).setup()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_length": 0}, "data.max_length"),
        ({"tokenizer": "sentencepiece"}, "data.tokenizer"),
        ({"truncation_side": "middle"}, "data.truncation_side"),
        ({"source": "kaggle"}, "data.source"),
        ({"splits": {"dev": "dev"}}, "data.splits.dev"),
    ],
)
def test_invalid_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextClassificationDataModule.from_schema(**kwargs)
