"""Seq2seq scoring against what the data says: ``<unk>`` in a reference earns no credit, and every
split's lengths land in a bucket labelled with them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from attnbench.data.seq2seq.datamodule import Seq2SeqDataModule
from attnbench.tasks.seq2seq_metrics import SequenceMetrics


def test_unk_in_the_reference_earns_no_credit() -> None:
    # the reference's "Zürich" is out of the vocabulary: <unk> from the model is not that word
    m = SequenceMetrics()
    m.update([["to", "<unk>", "now"]], [["to", "<unk>", "now"]], torch.tensor([3]))
    out = m.compute()
    assert float(out["acc"]) == 0.0
    assert float(out["token_acc"]) == pytest.approx(2 / 3)
    assert float(out["bleu"]) == pytest.approx(0.0)  # no bigram matches: BLEU 0 without smoothing
    same = SequenceMetrics()  # what scoring against the original text gives
    same.update([["to", "<unk>", "now"]], [["to", "Zürich", "now"]], torch.tensor([3]))
    for key in ("acc", "token_acc", "bleu"):
        assert float(out[key]) == pytest.approx(float(same.compute()[key])), key
    chars = SequenceMetrics()  # characters: ß is outside a character vocabulary
    chars.update([["g", "r", "o", "<unk>"]], [["g", "r", "o", "<unk>"]], torch.tensor([4]))
    original = SequenceMetrics()
    original.update([["g", "r", "o", "<unk>"]], [list("groß")], torch.tensor([4]))
    a, b = chars.compute(), original.compute()
    assert float(a["acc"]) == 0.0 and all(float(a[k]) == pytest.approx(float(b[k])) for k in a)


def test_buckets_come_from_every_split(tmp_path: Path) -> None:
    # test pairs have 2 or 3 source words; validation ones 1 or 4: each must be reported under its length
    rows = [{"source": " ".join(["a"] * n), "target": "b " * n, "split": "train"} for n in (1, 2, 3, 4) * 3]
    rows += [{"source": " ".join(["a"] * n), "target": "b " * n, "split": "validation"} for n in (1, 4)]
    rows += [{"source": " ".join(["a"] * n), "target": "b " * n, "split": "test"} for n in (2, 3)]
    path = tmp_path / "pairs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    # the same sources in every split on purpose (only lengths matter here): no de-duplication
    dm = Seq2SeqDataModule.from_schema(source="local_pairs", path=str(path), tokenizer="word", dedup="none")
    dm.setup()
    assert dm.length_edges == [1, 2, 3, 4] and dm.length_labels == ["1", "2", "3", "4"]
    metric = SequenceMetrics(dm.length_edges, dm.length_labels)
    val = dm.datasets["val"]
    metric.update([["b"]] * len(val), [["b"]] * len(val), torch.tensor(val.axis))
    assert {k for k in metric.compute() if k.startswith("acc@")} == {"acc@len=1", "acc@len=4"}
