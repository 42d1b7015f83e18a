"""The classifier adapter and the batch runner, on small untrained classifiers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from attnbench.analysis.adapter import NotAnalysable, explainer
from attnbench.analysis.context import Settings
from attnbench.analysis.core import Inputs, logits_from_embeddings
from attnbench.analysis.runner import MEASUREMENTS, analyse, build, summarize, write
from attnbench.models.classifier import TextClassifier

ATTENTIONS = [
    {"name": "attention", "score": "additive", "hidden_size": 8},
    {"name": "attention", "score": "scaled_dot", "query": "self"},
    {"name": "attention", "score": "general", "hops": 2, "hidden_size": 8},
    {"name": "attention", "score": "dot", "alignment": "local_m", "window": 1, "query": "last"},
    {"name": "multihead", "heads": 2, "hidden_size": 8},
    {"name": "multihead", "heads": 2, "hidden_size": 8, "query": "self"},
]


def classifier(attention: dict, encoder: str = "bilstm") -> TextClassifier:
    torch.manual_seed(0)
    enc = {"name": "bilstm", "hidden_size": 6} if encoder == "bilstm" else {"name": "conv1d", "filters": 8}
    return TextClassifier(30, 3, enc, attention, {"mode": "last"}, embedding_dim=8).eval()


def batches(n: int = 3, size: int = 4) -> list[Inputs]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        lengths = torch.randint(2, 9, (size,), generator=gen)
        mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
        ids = torch.randint(2, 30, mask.shape, generator=gen).masked_fill(~mask, 0)
        out.append(
            Inputs(
                ids,
                lengths,
                gold=mask & (ids % 7 == 0),
                index=torch.arange(size) + size * i,
                labels=torch.randint(3, (size,), generator=gen),
            )
        )
    return out


@pytest.mark.parametrize("attention", ATTENTIONS, ids=lambda a: "-".join(str(v) for v in a.values()))
@pytest.mark.parametrize("encoder", ["bilstm", "conv1d"])
def test_adapter_reproduces_the_classifier(attention: dict, encoder: str) -> None:
    model = classifier(attention, encoder)
    x = batches(1)[0]
    e = explainer(model)
    with torch.no_grad():
        torch.testing.assert_close(
            logits_from_embeddings(e, e.embed(x.ids), x.lengths, x.mask), model(x.ids, x.lengths, x.mask)
        )


def test_pooling_baselines_are_refused() -> None:
    with pytest.raises(NotAnalysable, match="attention=none"):
        explainer(classifier({"name": "none"}))


def test_every_measurement_runs_deterministically_and_writes_its_files(tmp_path) -> None:
    e = explainer(classifier(ATTENTIONS[0]))
    options = {"permutation": {"n_perm": 5}, "adversarial": {"steps": 5, "k": 2}}
    measurements = {name: build(name, options.get(name)) for name in MEASUREMENTS if name != "seed_agreement"}
    measurements["seed_agreement"] = build("seed_agreement", others=[explainer(classifier(ATTENTIONS[4]))])
    tables = analyse(e, batches(), measurements, Settings(seed=3, ig_steps=4), max_examples=10)
    again = analyse(e, batches(), measurements, Settings(seed=3, ig_steps=4), max_examples=10)
    for name, table in tables.items():
        assert len(table) == 10, name
        pd.testing.assert_frame_equal(table, again[name])
    assert tables["kendall"]["example"].tolist() == list(range(10))
    summary = summarize(tables, measurements)
    assert summary["analysis/kendall/examples"] == 10
    assert {
        "analysis/permutation/median_tvd",
        "analysis/adversarial/emax_jsd_mean",
        "analysis/eraser/comprehensiveness_attention",
        "analysis/erasure/flip_top",
    } <= set(summary)
    out = write(tmp_path, tables, summary)
    figures = ["adversarial.png", "permutation.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{n}.csv" for n in measurements), "summary.json", *figures]
    )
    assert json.loads((out / "summary.json").read_text())["analysis/kendall/examples"] == 10


def test_unknown_measurement_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match="kendall"):
        build("kendal")
