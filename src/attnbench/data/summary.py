"""The data summary's statistics (logged, and stored in ``run.json``): class balance, token-length
percentiles before truncation, truncation and out-of-vocabulary rates, padding with and without
length bucketing, and how many evaluation inputs occur in train (``<split>/in_train``; the counts that
``data.dedup`` removed come with the processed data)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from attnbench.data.batching import BucketBySequenceLength, EncodedTexts, padding_ratio
from attnbench.data.dedup import count_seen_in_train
from attnbench.data.processed import part_keys
from attnbench.data.tokenize import UNK_ID


def _percentiles(counts: torch.Tensor, prefix: str) -> dict[str, float]:
    values = counts.numpy()
    out = {f"{prefix}len_p{q}": float(np.percentile(values, q)) for q in (50, 90, 95, 99)}
    out[f"{prefix}len_max"] = float(values.max())
    return out


def split_statistics(
    name: str, part: dict[str, Any], label_names: list[str], max_length: int, is_pair: bool
) -> dict[str, Any]:
    """Statistics of one processed split ``part`` (the cached tensors: ``labels`` [N], ``counts`` [N]
    tokens before truncation, flat ``ids`` [sum of lengths], likewise ``pair_*``; ``meta``), keyed
    ``<name>/<statistic>``."""
    out: dict[str, Any] = {f"{name}/size": len(part["labels"])}
    counts = torch.bincount(part["labels"], minlength=len(label_names)).tolist()
    out[f"{name}/classes"] = dict(zip(label_names, counts, strict=True))
    sides = [("", "ids", "counts")] + ([("pair_", "pair_ids", "pair_counts")] if is_pair else [])
    for prefix, ids_key, counts_key in sides:
        out.update(_percentiles(part[counts_key], f"{name}/{prefix}"))
        out[f"{name}/{prefix}truncated"] = float((part[counts_key] > max_length).float().mean())
        out[f"{name}/{prefix}oov_rate"] = float((part[ids_key] == UNK_ID).float().mean())
    if "length" in part["meta"]:
        values, n = torch.unique(part["meta"]["length"], return_counts=True)
        out[f"{name}/by_length"] = dict(zip(map(str, values.tolist()), n.tolist(), strict=True))
    return out


def padding_statistics(train: EncodedTexts, batch_size: int, seed: int) -> dict[str, float]:
    """The share of padding in the training batches, bucketed by length and at random (a pool of one
    batch): what bucketing saves."""
    out = {}
    for label, pool in (("bucketed", BucketBySequenceLength.DEFAULT_POOL_BATCHES), ("random", 1)):
        batches = list(BucketBySequenceLength(train.lengths, batch_size, seed=seed, pool_batches=pool))
        out[f"train/padding_{label}"] = padding_ratio(batches, train.text_lengths, train.pair_lengths)
    return out


def count_in_train(splits: dict[str, dict[str, Any]]) -> dict[str, int]:
    """``<split>/in_train``: validation and test examples whose input (token ids after truncation, both
    texts of a pair) occurs in train: 0 unless ``data.dedup=none``."""
    return count_seen_in_train(splits, part_keys)
