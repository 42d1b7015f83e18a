"""The analysis of a classifier over real DataLoader batches, with gold positions from metadata."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from attnbench.analysis.session import analyse_run, chosen, gold_mask, selection
from attnbench.data.batching import EncodedTexts
from attnbench.models.classifier import TextClassifier


def dataset() -> EncodedTexts:
    gen = torch.Generator().manual_seed(0)
    ids = [torch.randint(2, 40, (int(n),), generator=gen) for n in torch.randint(3, 12, (10,), generator=gen)]
    return EncodedTexts(ids, [i % 3 for i in range(10)])


def model() -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(
        40,
        3,
        {"name": "conv1d", "filters": 8},
        {"name": "attention", "hidden_size": 8},
        {"mode": "last"},
        embedding_dim=8,
    )


def test_gold_mask_marks_one_position_or_none() -> None:
    mask = gold_mask(torch.tensor([2, -1, 0]), torch.tensor([2, 0, 1]), 4)
    assert mask.tolist() == [[True, False, False, False], [False, False, True, False], [False] * 4]


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ValueError, match=r"analysis\.kendal"):
        chosen({"kendal": {}, "max_examples": 3})


def test_analyse_run_writes_tables_and_returns_the_summary(tmp_path) -> None:
    options = {
        "kendall": {},
        "rationale": {"rankings": ["attention", "loo"]},
        "max_examples": 7,
        "seed": 1,
        "ig_steps": 4,
        "device": "cpu",
        "batch_size": 3,
        "seed_agreement": {"ckpt_paths": ["unused"]},
    }
    gold = torch.tensor([1, 0, -1, 2, 1, 0, 3, 1, 1, 1])
    summary = analyse_run(model(), dataset(), options, tmp_path, gold=gold, others=[model()])
    assert summary["analysis/kendall/examples"] == 7 and summary["analysis/seed_agreement/jsd_attention_mean"] == 0
    table = pd.read_csv(tmp_path / "analysis" / "rationale.csv")
    picked = sorted(selection(dataset().text_lengths, 7, 1))
    assert table["example"].tolist() == picked
    assert table["rank_attention"].isna().tolist() == [i == 2 for i in picked]
    saved = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert saved["analysis/rationale/examples"] == 7


def test_selection_is_a_seeded_subset_longest_first() -> None:
    lengths = [3, 9, 4, 9, 1, 7]
    assert selection(lengths, None, 0) == [1, 3, 5, 2, 0, 4]
    some = selection(lengths, 3, 5)
    assert some == selection(lengths, 3, 5) and len(set(some)) == 3
    assert [lengths[i] for i in some] == sorted((lengths[i] for i in some), reverse=True)
