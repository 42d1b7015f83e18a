"""The analysis of a classifier over real DataLoader batches, with gold positions from metadata."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from attnbench.analysis.session import analyse_run, chosen, gold_mask
from attnbench.data.batching import EncodedTexts, collate
from attnbench.models.classifier import TextClassifier


def loader() -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    ids = [torch.randint(2, 40, (int(n),), generator=gen) for n in torch.randint(3, 12, (10,), generator=gen)]
    return DataLoader(EncodedTexts(ids, [i % 3 for i in range(10)]), batch_size=4, collate_fn=collate)


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
        "seed_agreement": {"ckpt_paths": ["unused"]},
    }
    gold = torch.tensor([1, 0, -1, 2, 1, 0, 3, 1, 1, 1])
    summary = analyse_run(model(), loader(), options, tmp_path, gold=gold, others=[model()])
    assert summary["analysis/kendall/examples"] == 7 and summary["analysis/seed_agreement/jsd_attention_mean"] == 0
    table = pd.read_csv(tmp_path / "analysis" / "rationale.csv")
    assert table["example"].tolist() == list(range(7))
    assert table["rank_attention"].isna().tolist() == [i == 2 for i in range(7)]
    saved = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert saved["analysis/rationale/examples"] == 7
