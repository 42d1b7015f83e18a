"""Classical baselines: a scikit-learn model on the same splits as the neural models, one row in every
table (``attnbench-train model=tfidf_logreg``).

Input. The features are built from the token-id sequences of the TextClassificationDataModule after
``setup("fit")``: its tokenizer (fit on train only), its vocabulary cut-off and its ``max_length``
truncation, so the baseline reads exactly what a neural model reads, split for split and token for
token (rare words are ``<unk>`` for both). The raw texts would be available by reading the source again
and matching ``dm.split_ids``, but that costs the source read the data cache exists to skip, and would
give the baseline text the neural models never see (the tail past ``max_length``). Each id is one
TF-IDF "word"; n-grams are n-grams of ids, i.e. of words.

Text pairs (``dm.is_pair``): one vectorizer fit on the training texts of both sides (one vocabulary, as
the tokenizer), features ``[tfidf(a), tfidf(b), tfidf(a) ⊙ tfidf(b)]`` (the product marks shared words).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from attnbench.config.schema import TfidfLogRegConfig

TARGETS = (TfidfLogRegConfig._target_,)  # the model configs that name a classical baseline


def is_classical(model_cfg: Any) -> bool:
    """Whether a ``model`` config is a classical baseline (no Lightning Trainer)."""
    return model_cfg is not None and model_cfg.get("_target_") in TARGETS


def _as_words(seqs: Sequence[torch.Tensor]) -> list[str]:
    """Token-id sequences as space-separated documents of ids (what the vectorizer splits)."""
    return [" ".join(map(str, s.tolist())) for s in seqs]


@dataclass
class Evaluation:
    """Predictions and labels of one split, and the metrics (torchmetrics' definitions, as the neural
    models log them: accuracy = micro average, F1 = macro average over all classes)."""

    predictions: np.ndarray
    labels: np.ndarray
    acc: float
    f1_macro: float

    def metrics(self, split: str) -> dict[str, float]:
        """As the tasks log them: ``split/acc``, ``split/f1_macro``."""
        return {f"{split}/acc": self.acc, f"{split}/f1_macro": self.f1_macro}


def evaluate(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> Evaluation:
    preds, target = torch.as_tensor(predictions, dtype=torch.long), torch.as_tensor(labels, dtype=torch.long)
    acc = multiclass_accuracy(preds, target, num_classes, average="micro")
    f1 = multiclass_f1_score(preds, target, num_classes, average="macro")
    return Evaluation(np.asarray(predictions), np.asarray(labels), float(acc), float(f1))


class TfidfLogReg:
    """TF-IDF features + (multinomial) logistic regression.

    ``ngram_range``: word n-grams, [1, 2] = unigrams and bigrams; ``min_df``: drop n-grams in fewer
    training documents; ``max_features``: keep the most frequent n-grams (None: all);
    ``sublinear_tf``: 1 + log(tf); ``C``: inverse L2 strength; ``max_iter``: solver iterations;
    ``class_weight``: None or ``balanced``; ``solver``: scikit-learn's (lbfgs: deterministic);
    ``seed``: ``random_state`` of the solver (used by liblinear/sag/saga). Defaults: the schema's
    (:class:`~attnbench.config.schema.TfidfLogRegConfig`).
    """

    def __init__(
        self,
        ngram_range: Sequence[int] | None = None,  # None: the schema's
        min_df: int | float = TfidfLogRegConfig.min_df,
        max_features: int | None = TfidfLogRegConfig.max_features,
        sublinear_tf: bool = TfidfLogRegConfig.sublinear_tf,
        C: float = TfidfLogRegConfig.C,  # scikit-learn's name
        max_iter: int = TfidfLogRegConfig.max_iter,
        class_weight: str | None = TfidfLogRegConfig.class_weight,
        solver: str = TfidfLogRegConfig.solver,
        seed: int = 0,
    ) -> None:
        ngram_range = tuple(int(n) for n in (TfidfLogRegConfig().ngram_range if ngram_range is None else ngram_range))
        if len(ngram_range) != 2 or not 1 <= ngram_range[0] <= ngram_range[1]:
            raise ValueError(f"model.ngram_range={list(ngram_range)} must be [min_n, max_n] with 1 <= min_n <= max_n")
        if class_weight not in (None, "balanced"):
            raise ValueError(f"model.class_weight={class_weight!r}; use null or balanced")
        # scikit-learn loads with the baseline, not with every neural run (fitters imports this module)
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(
            token_pattern=r"\S+",
            lowercase=False,
            ngram_range=ngram_range,
            min_df=min_df,
            max_features=max_features,
            sublinear_tf=sublinear_tf,
            dtype=np.float64,
        )
        self.classifier = LogisticRegression(
            C=C, max_iter=max_iter, class_weight=class_weight, solver=solver, random_state=seed
        )
        self.pair = False

    # -- features ------------------------------------------------------------------------------
    def _features(self, ids: Sequence[torch.Tensor], pair_ids: Sequence[torch.Tensor] | None) -> sp.csr_matrix:
        a = self.vectorizer.transform(_as_words(ids))
        if pair_ids is None:
            return a
        b = self.vectorizer.transform(_as_words(pair_ids))
        return sp.hstack([a, b, a.multiply(b)], format="csr")

    # -- fit / predict on EncodedTexts ---------------------------------------------------------
    def fit(self, ds: Any) -> TfidfLogReg:
        """Fit on an :class:`~attnbench.data.batching.EncodedTexts` (the training split)."""
        self.pair = ds.pair_ids is not None
        docs = _as_words(ds.ids) + (_as_words(ds.pair_ids) if self.pair else [])
        self.vectorizer.fit(docs)
        self.classifier.fit(self._features(ds.ids, ds.pair_ids), ds.labels.numpy())
        return self

    def predict(self, ds: Any) -> np.ndarray:
        return self.classifier.predict(self._features(ds.ids, ds.pair_ids))

    @property
    def num_parameters(self) -> int:
        """Learned coefficients: the weight matrix and the intercepts."""
        return int(self.classifier.coef_.size + self.classifier.intercept_.size)

    @property
    def num_features(self) -> int:
        return int(self.classifier.coef_.shape[1])


def evaluate_split(model: TfidfLogReg, dm: Any, split: str) -> Evaluation:
    """Predict ``dm``'s ``split`` (val or test) and score the predictions."""
    ds = dm.datasets[split]
    return evaluate(model.predict(ds), ds.labels.numpy(), dm.num_classes)


def fit_and_evaluate(model: TfidfLogReg, dm: Any, test: bool = True) -> dict[str, Any]:
    """Fit on ``dm``'s train split, evaluate on val (and test): metrics as in ``run.json``, timings,
    the parameter count, and the :class:`Evaluation` of each split (``evaluations``)."""
    t0 = time.perf_counter()
    model.fit(dm.datasets["train"])
    timings = {"fit_s": time.perf_counter() - t0}
    evaluations: dict[str, Evaluation] = {}
    for split in ("val", "test") if test else ("val",):
        t0 = time.perf_counter()
        evaluations[split] = evaluate_split(model, dm, split)
        if split == "test":
            timings["test_s"] = time.perf_counter() - t0
    metrics = {k: v for split, ev in evaluations.items() for k, v in ev.metrics(split).items()}
    return {
        "metrics": dict(sorted(metrics.items())),
        "timings": timings,
        "params": model.num_parameters,
        "features": model.num_features,
        "evaluations": evaluations,
    }
