"""``model=tfidf_logreg``: real runs through ``attnbench.train.run`` (and the CLI once) on BBC News and on
text pairs; the run record has the neural runs' shape; metrics follow the neural models' definitions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hydra.utils import instantiate
from sklearn.metrics import accuracy_score, f1_score
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attnbench.config import ConfigKeyError, validate
from attnbench.data.batching import EncodedTexts
from attnbench.models.tfidf import TfidfLogReg, evaluate, fit_and_evaluate
from attnbench.train import run

from .helpers import read_record, run_cli, subprocess_env, train_command

# small but real: the whole of BBC News, the first 100 tokens of each article, unigrams + bigrams
BBC_SMALL = ["model=tfidf_logreg", "data.max_length=100", "logger=csv"]
PAIR_TINY = [
    "model=tfidf_logreg",
    "data=pair_match",
    "data.synthetic.length=32",
    "data.synthetic.num_train=300",
    "data.synthetic.num_val=60",
    "data.synthetic.num_test=60",
    "data.max_length=64",
    "logger=csv",
]
RECORD_KEYS = {"status", "config", "metrics", "timings", "params", "checkpoint", "run_dir", "env", "git_sha", "data"}
METRICS = {"val/acc", "val/f1_macro", "test/acc", "test/f1_macro"}


def check_record(record: dict) -> None:
    assert record["status"] == "completed", record.get("error")
    assert set(record) >= RECORD_KEYS
    assert set(record["metrics"]) == METRICS
    assert all(0.0 <= v <= 1.0 for v in record["metrics"].values())
    assert {"data_s", "fit_s", "test_s", "total_s"} <= set(record["timings"])
    assert record["checkpoint"] is None
    assert record["params"] > 0 and record["env"]["torch"]


def test_bbc_news_run_beats_the_majority_class_and_matches_its_predictions(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(*BBC_SMALL, "seed=3", tiny=False)
    record = run(cfg)
    check_record(record)
    assert read_record(cfg.paths.output_dir) == record
    data = record["data"]
    majority = max(data["test/classes"].values()) / data["test/size"]
    assert majority < 0.25  # five roughly balanced classes
    assert record["metrics"]["test/acc"] > majority + 0.5
    assert record["metrics"]["val/acc"] > majority + 0.5

    # the same fit outside train.run gives the predictions behind the record's metrics
    dm = instantiate(cfg.data)
    dm.setup("fit")
    assert dm.cache_hit  # the run's processed data: the very same splits
    model = instantiate(cfg.model, seed=cfg.seed)
    result = fit_and_evaluate(model, dm)
    assert result["metrics"] == record["metrics"]
    for split in ("val", "test"):
        ev = result["evaluations"][split]
        assert np.array_equal(ev.labels, dm.datasets[split].labels.numpy())
        assert ev.acc == pytest.approx(accuracy_score(ev.labels, ev.predictions), abs=1e-6)
        assert ev.f1_macro == pytest.approx(f1_score(ev.labels, ev.predictions, average="macro"), abs=1e-6)
    # params = learned coefficients: one weight per class and feature, plus the intercepts
    assert record["params"] == dm.num_classes * (record["features"] + 1)
    # the CSV logger got the run's summary, as for a neural run
    with open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["test/acc"]) == pytest.approx(record["metrics"]["test/acc"])


def test_text_pairs_use_both_texts_and_their_product(make_cfg) -> None:
    cfg = make_cfg(*PAIR_TINY, tiny=False)
    record = run(cfg)
    check_record(record)
    assert record["data"]["is_pair"]
    dm = instantiate(cfg.data)
    dm.setup("fit")
    model = instantiate(cfg.model, seed=cfg.seed).fit(dm.datasets["train"])
    assert model.pair
    assert record["features"] == 3 * len(model.vectorizer.vocabulary_)


def test_pair_features_are_a_b_and_their_elementwise_product() -> None:
    train = EncodedTexts([[2, 3], [4, 5, 5]], [0, 1], pair_ids=[[3, 4], [2, 2]])
    model = TfidfLogReg(ngram_range=[1, 1], sublinear_tf=False).fit(train)
    x = model._features(train.ids, train.pair_ids)
    a = model.vectorizer.transform(["2 3", "4 5 5"])
    b = model.vectorizer.transform(["3 4", "2 2"])
    assert sp.issparse(x) and x.shape == (2, 3 * a.shape[1])
    assert np.allclose(x.toarray(), np.hstack([a.toarray(), b.toarray(), a.toarray() * b.toarray()]))
    assert model.num_parameters == model.classifier.coef_.size + model.classifier.intercept_.size


def test_metrics_are_the_neural_models_torchmetrics() -> None:
    """Accuracy micro and macro F1 over all classes, a class absent from a split included."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (50,), generator=g)  # class 4 of 5 never occurs
    preds = torch.where(torch.rand(50, generator=g) < 0.7, labels, torch.randint(0, 4, (50,), generator=g))
    ev = evaluate(preds.numpy(), labels.numpy(), 5)
    assert ev.acc == pytest.approx(float(MulticlassAccuracy(5, average="micro")(preds, labels)))
    assert ev.f1_macro == pytest.approx(float(MulticlassF1Score(5, average="macro")(preds, labels)))


def test_config_is_checked(make_cfg) -> None:
    validate(make_cfg("model=tfidf_logreg", tiny=False))
    with pytest.raises(ConfigKeyError, match=r"model\.n_gram"):
        validate(make_cfg("model=tfidf_logreg", "+model.n_gram=2", tiny=False))
    with pytest.raises(ValueError, match=r"model\.ngram_range"):
        TfidfLogReg(ngram_range=[2, 1])
    cfg = make_cfg("model=tfidf_logreg", "train=false", "ckpt_path=x.ckpt", "logger=none", tiny=False)
    with pytest.raises(FileNotFoundError):  # train=false asks for a checkpoint, which a baseline never has
        run(cfg)


def test_cli_run_on_bbc_news_with_the_default_logger(tmp_path: Path) -> None:
    """``attnbench-train model=tfidf_logreg``, with W&B (offline here) as by default."""
    run_dir = tmp_path / "cli"
    run_cli(
        train_command(
            "model=tfidf_logreg", "data.max_length=100", "model.ngram_range=[1,1]", f"hydra.run.dir={run_dir}"
        ),
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        timeout=300,
    )
    record = read_record(run_dir)
    check_record(record)
    assert record["metrics"]["test/acc"] > 0.8
    assert list((run_dir / "wandb").glob("offline-run-*")), "no offline W&B run"
