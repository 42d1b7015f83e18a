"""Which examples go to train, val and test: the source's own splits where it has them, the rest carved
stratified with a seed of its own (independent of the training seed, so a run's seed never moves the
test set)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnbench.data.corpus import SPLITS, DataError, TextCorpus


@dataclass(frozen=True)
class Splits:
    """Indices into the corpus for each split (disjoint, together all documents)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_split(labels: list[int], val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Stratified train/val/test indices, fixed by ``seed`` (independent of the training seed)."""
    from sklearn.model_selection import train_test_split  # loaded when splits are drawn, not per run

    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in (0, 1) "
            "and sum to less than 1"
        )
    idx = np.arange(len(labels))
    y = np.asarray(labels)
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), stratify=y[rest], random_state=seed
    )
    return Splits(np.sort(train), np.sort(val), np.sort(test))


def _carve(pool: np.ndarray, labels: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, ...]:
    """Split ``pool`` (corpus indices) into (rest, carved) with ``fraction`` carved, stratified."""
    from sklearn.model_selection import train_test_split  # loaded when splits are drawn, not per run

    try:
        rest, carved = train_test_split(pool, test_size=fraction, stratify=labels[pool], random_state=seed)
    except ValueError as err:
        raise DataError(
            f"cannot carve a stratified {what} split ({fraction:.0%}) from {len(pool)} examples: {err} "
            f"Fix: provide a {what} split (a file or split column), add examples, or change data.{what}_fraction."
        ) from None
    return np.sort(rest), np.sort(carved)


def assign_splits(
    corpus: TextCorpus, keep: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Corpus indices (among ``keep``) of each split: the source's own splits where it has them, the
    missing ones carved from train (stratified, seeded; fractions of the training split); a source
    without splits is split stratified 80/10/10 (by default) as a whole."""
    labels = np.asarray(corpus.labels)
    if corpus.split is None:
        try:
            s = stratified_split(labels[keep].tolist(), val_fraction, test_fraction, seed)
        except ValueError as err:
            if "data.val_fraction" in str(err):
                raise
            raise DataError(
                f"cannot split {len(keep)} examples stratified into train/val/test: {err} "
                "Fix: add examples of the rare classes, or provide the splits (a split column or one file per split)."
            ) from None
        return {"train": keep[s.train], "val": keep[s.val], "test": keep[s.test]}
    names = np.asarray(corpus.split)[keep]
    out = {name: keep[names == name] for name in SPLITS}
    provided = set(corpus.split)
    for name in SPLITS:
        if name in provided and len(out[name]) == 0:
            raise DataError(
                f"the {name} split is empty after dropping empty texts (and rows that data.labels, "
                f"data.label_map or data.max_tokens remove, and copies of other splits' inputs that data.dedup "
                f"removes). Fix: check the {name} data."
            )
    if len(out["train"]) == 0:
        raise DataError("the source has no training examples. Fix: provide a train split (data.splits.train).")
    if "test" not in provided:
        out["train"], out["test"] = _carve(out["train"], labels, test_fraction, seed, "test")
    if "val" not in provided:
        out["train"], out["val"] = _carve(out["train"], labels, val_fraction, seed, "val")
    return out


def check_labels_seen_in_train(corpus: TextCorpus, split_idx: dict[str, np.ndarray], where: str) -> None:
    """Fail on a val/test label that train lacks: no model can learn it, and its scores would mislead."""
    labels = np.asarray(corpus.labels)
    seen = set(labels[split_idx["train"]].tolist())
    for name in ("val", "test"):
        unseen = [i for i in split_idx[name] if labels[i] not in seen]
        if unseen:
            names = sorted({corpus.label_names[labels[i]] for i in unseen})
            raise DataError(
                f"{where}: label(s) {names} occur in the {name} split ({len(unseen)} row(s), e.g. "
                f"{corpus.ids[unseen[0]]}) but never in train, so no model can learn them. Fix: add training "
                "examples of those labels or remove those rows."
            )
