"""Synthetic tasks: deterministic by seed, exactly the specified length, and the label recoverable from
the input exactly as the task defines it."""

from __future__ import annotations

import pytest

from attnbench.data import TextClassificationDataModule
from attnbench.data.corpus import DataError
from attnbench.data.synthetic import generate

SMALL = {"num_train": 40, "num_val": 10, "num_test": 10}


def in_order(query: list[str], doc: list[str]) -> bool:
    """The test's own subsequence check (independent of the generator's)."""
    j = 0
    for token in doc:
        if j < len(query) and token == query[j]:
            j += 1
    return j == len(query)


@pytest.mark.parametrize("task", ["needle", "recall", "pair_match", "pair_recall"])
def test_deterministic_by_seed(task: str) -> None:
    cfg = {"task": task, "length": [16, 32], **SMALL}
    a, b, c = generate(cfg, seed=1), generate(cfg, seed=1), generate(cfg, seed=2)
    assert (a.texts, a.pairs, a.labels) == (b.texts, b.pairs, b.labels)
    assert a.texts != c.texts
    # adding a length leaves the examples of the others as they were
    more = generate({**cfg, "length": [16, 32, 64]}, seed=1)
    assert more.texts[: len(a.texts)] == a.texts


@pytest.mark.parametrize("position", ["uniform", "start", "middle", "end"])
def test_needle_label_is_the_value_after_the_marker(position: str) -> None:
    corpus = generate({"task": "needle", "length": [8, 33], "position": position, "num_classes": 5, **SMALL}, seed=0)
    positions = set()
    for text, label, length in zip(corpus.texts, corpus.labels, corpus.meta["length"], strict=True):
        tokens = text.split()
        assert len(tokens) == length and tokens.count("needle") == 1
        p = tokens.index("needle")
        assert tokens[p + 1] == f"v{label}" and corpus.label_names[label] == f"v{label}"
        assert all(t.startswith("n") for i, t in enumerate(tokens) if i not in (p, p + 1) and t != "needle")
        positions.add((length, p))
        expected = {"start": 0, "end": length - 2, "middle": (length - 2) // 2}.get(position)
        if expected is not None:
            assert p == expected
    if position == "uniform":
        assert len(positions) > 10
    assert set(corpus.split) == {"train", "val", "test"} and corpus.split.count("train") == 80


def test_recall_label_is_the_value_of_the_queried_key() -> None:
    corpus = generate({"task": "recall", "length": [9, 20], "num_keys": 10, **SMALL}, seed=0)
    for text, label, length in zip(corpus.texts, corpus.labels, corpus.meta["length"], strict=True):
        tokens = text.split()
        assert len(tokens) == length and tokens[-2] == "query"
        body = tokens[:-2]
        body = body[1:] if len(body) % 2 else body
        pairs = dict(zip(body[0::2], body[1::2], strict=True))
        assert len(pairs) == len(body) // 2  # keys are distinct
        assert pairs[tokens[-1]] == f"v{label}"


def test_pair_match_label_says_whether_the_query_occurs_in_order() -> None:
    corpus = generate(
        {
            "task": "pair_match",
            "length": [12, 40],
            "noise_vocab": 30,
            "query_length": 3,
            "num_train": 200,
            "num_val": 10,
            "num_test": 10,
        },
        seed=0,
    )
    assert corpus.pairs is not None and corpus.label_names == ["absent", "in_order"]
    for query, doc, label, length in zip(corpus.texts, corpus.pairs, corpus.labels, corpus.meta["length"], strict=True):
        assert len(doc.split()) == length and len(query.split()) == 3
        assert label == int(in_order(query.split(), doc.split()))
    share = sum(corpus.labels) / len(corpus.labels)
    assert 0.35 < share < 0.65, share  # roughly balanced


def test_pair_recall_label_is_the_value_of_the_query_key_in_the_document() -> None:
    corpus = generate({"task": "pair_recall", "length": [9, 20], "num_keys": 10, **SMALL}, seed=0)
    assert corpus.pairs is not None
    for query, doc, label, length in zip(corpus.texts, corpus.pairs, corpus.labels, corpus.meta["length"], strict=True):
        tokens = doc.split()
        assert len(tokens) == length and len(query.split()) == 1
        body = tokens[1:] if length % 2 else tokens
        pairs = dict(zip(body[0::2], body[1::2], strict=True))
        assert len(pairs) == length // 2  # keys are distinct
        assert pairs[query] == f"v{label}"
    assert len(set(corpus.labels)) > 1


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"task": "copy"}, "data.synthetic.task"),
        ({"length": 1}, "data.synthetic.length"),
        ({"position": "random"}, "data.synthetic.position"),
        ({"num_train": 0}, "data.synthetic.num_train"),
        ({"task": "recall", "length": 100, "num_keys": 10}, "num_keys"),
        ({"lenght": 3}, "data.synthetic.lenght"),
        ({"task": "pair_recall", "length": 40, "num_keys": 10}, "needs 20 distinct keys"),
    ],
)
def test_bad_synthetic_settings(cfg: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        generate(cfg, seed=0)


def test_datamodule_keeps_each_examples_length() -> None:
    dm = TextClassificationDataModule.from_schema(
        source="synthetic",
        min_freq=1,
        max_length=64,
        batch_size=8,
        synthetic={"task": "needle", "length": [8, 24], **SMALL},
    )
    dm.setup()
    assert dm.summary["train/by_length"] == {"8": 40, "24": 40}
    assert dm.summary["train/truncated"] == 0
    for batch in dm.val_dataloader():
        lengths = dm.example_meta["val"]["length"][batch.index]
        assert (lengths == batch.lengths).all()  # word tokens: one id per synthetic token
