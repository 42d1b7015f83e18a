"""``attnbench.train.run`` on the new data options: local files with frozen pretrained vectors, a
synthetic task, text pairs (the classifier reads both texts), and a hub set failing clearly offline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from attnbench.train import run

from .helpers import assert_completed, read_record
from .test_sources import make_rows

ONE_EPOCH = ("trainer.max_epochs=1", "logger=csv", "callbacks=none")
SYNTHETIC_SMALL = (
    "data.synthetic.length=[8,16]",
    "data.synthetic.num_train=32",
    "data.synthetic.num_val=8",
    "data.synthetic.num_test=8",
)


def test_local_csv_with_frozen_pretrained_vectors(make_cfg, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pd.DataFrame(make_rows()).to_csv(data, index=False)
    vectors = tmp_path / "glove.txt"
    vectors.write_text("match 1 2 3 4\ncode 4 3 2 1\n")
    cfg = make_cfg(
        "data=local",
        f"data.path={data}",
        "data.min_freq=1",
        f"data.embeddings_path={vectors}",
        "model.embedding_dim=4",
        "model.freeze_embeddings=true",
        *ONE_EPOCH,
    )
    record = run(cfg)
    assert_completed(record)
    assert record["data"]["label_names"] == ["food", "sport", "tech"] and record["data"]["cache"] == "built"
    assert record["data"]["embedding_coverage"] > 0
    metrics = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    assert "data/train/padding_bucketed" in metrics  # the data summary reached the logger
    # a second run reads the cache
    assert run(make_cfg("data=local", f"data.path={data}", "data.min_freq=1", *ONE_EPOCH, name="again"))["data"][
        "cache"
    ] in ("built", "hit")


def test_frozen_vectors_stay_fixed_through_training(tmp_path: Path) -> None:
    from attnbench.data import TextClassificationDataModule
    from attnbench.tasks import ClassificationTask

    data = tmp_path / "d.csv"
    pd.DataFrame(make_rows()).to_csv(data, index=False)
    vectors = tmp_path / "glove.txt"
    vectors.write_text("match 1 2 3 4\ncode 4 3 2 1\n")
    dm = TextClassificationDataModule.from_schema(
        source="local", path=str(data), min_freq=1, embeddings_path=str(vectors)
    )
    dm.setup()
    model = ClassificationTask(
        dm.vocab_size,
        dm.num_classes,
        encoder={"name": "conv1d", "filters": 4},
        attention={"name": "none"},
        pooling={"mode": "max"},
        embedding_dim=4,
        freeze_embeddings=True,
    )
    model.load_pretrained_embeddings(dm.embeddings)
    # the matrix is a weight, not a hyperparameter
    assert not any(isinstance(v, torch.Tensor) for v in model.hparams.values())
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    batch = next(iter(dm.train_dataloader()))
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model.run_batch(batch).logits, batch.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(model.model.embedding.weight, dm.embeddings)
    with pytest.raises(ValueError, match=r"model.embedding_dim=4"):
        ClassificationTask(
            dm.vocab_size,
            dm.num_classes,
            encoder={"name": "conv1d", "filters": 4},
            attention={"name": "none"},
            pooling={"mode": "max"},
            embedding_dim=8,
        ).load_pretrained_embeddings(dm.embeddings)


@pytest.mark.parametrize("task", ["needle", "recall"])
def test_synthetic_task_runs(task: str, make_cfg) -> None:
    extra = ("data.synthetic.num_keys=16",) if task == "recall" else ()
    record = run(make_cfg(f"data={task}", *SYNTHETIC_SMALL, *extra, *ONE_EPOCH))
    assert_completed(record)
    assert record["data"]["train/by_length"] == {"8": 32, "16": 32}


def test_text_pairs_train_the_infersent_head(make_cfg) -> None:
    record = run(make_cfg("data=pair_match", *SYNTHETIC_SMALL, "data.synthetic.query_length=2", *ONE_EPOCH))
    assert_completed(record)
    assert record["data"]["is_pair"] is True and record["data"]["train/pair_len_max"] == 16


def test_pair_model_reads_both_texts() -> None:
    """Changing only the second text changes the pair model's logits; its head reads 4 vectors."""
    from attnbench.data.batching import collate
    from attnbench.models import TextClassifier

    model = TextClassifier(
        20,
        2,
        {"name": "conv1d", "filters": 4},
        {"name": "none"},
        {"mode": "max"},
        embedding_dim=4,
        pair=True,
        dropout=0.0,
    ).eval()
    assert model.head[-1].in_features == 4 * model.aggregator.output_size
    first = torch.tensor([2, 3, 4])
    a = collate([(first, 0, 0, torch.tensor([5, 6])), (first, 1, 1, torch.tensor([7, 8, 9, 10]))])
    b = collate([(first, 0, 0, torch.tensor([5, 6])), (first, 1, 1, torch.tensor([11, 12, 13, 14]))])
    with torch.no_grad():
        la, lb = model.run_batch(a).logits, model.run_batch(b).logits
    assert torch.equal(la[0], lb[0]) and not torch.equal(la[1], lb[1])


def test_hub_set_fails_clearly_offline(make_cfg, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception, match=r"stanfordnlp/imdb.*cannot be reached.*data.path=DIR"):
        run(make_cfg("data=imdb", *ONE_EPOCH))
    record = read_record(tmp_path / "run")
    assert record["status"] == "failed" and "SourceUnavailableError" in record["error"]


def test_keras_seed_model_on_text_pairs(make_cfg) -> None:
    """experiment=keras_conv1d on pair data: the query text attends over the value (pair) text."""
    record = run(
        make_cfg(
            "experiment=keras_conv1d",
            "data=pair_match",
            *SYNTHETIC_SMALL,
            "data.synthetic.query_length=2",
            "data.max_vocab=1000",
            *ONE_EPOCH,
        )
    )
    assert_completed(record)
    assert record["data"]["is_pair"] is True
    assert record["config"]["model"]["architecture"].endswith("KerasConv1DAttention")
