"""The synthetic tasks know which token decides the label: ``meta['gold']``."""

from __future__ import annotations

import pytest

from attnbench.data.synthetic import generate


@pytest.mark.parametrize("task", ["needle", "recall", "pair_recall"])
def test_gold_token_is_the_value_that_is_the_label(task: str) -> None:
    corpus = generate({"task": task, "length": [7, 30], "num_train": 20, "num_val": 2, "num_test": 5}, 3)
    docs = corpus.pairs if task == "pair_recall" else corpus.texts
    for doc, label, gold in zip(docs, corpus.labels, corpus.meta["gold"], strict=True):
        assert doc.split()[gold] == f"v{label}"


def test_tasks_without_one_deciding_token_have_none() -> None:
    corpus = generate({"task": "pair_match", "length": 8, "num_train": 3, "num_val": 1, "num_test": 1}, 0)
    assert set(corpus.meta["gold"]) == {-1}
    # length 3 leaves no pair to recall: every example is the same input, so repeats must be allowed
    short = generate({"task": "recall", "length": 3, "num_train": 2, "num_val": 1, "num_test": 1}, 0, dedup="none")
    assert set(short.meta["gold"]) == {-1}  # no pair to recall
