"""BucketBySequenceLength: every example once per epoch, deterministic per seed and epoch, less padding."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
import torch

from attnbench.data import BucketBySequenceLength


def random_lengths(n: int, seed: int = 0) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 400, (n,), generator=g).tolist()


def padding_ratio(batches: list[list[int]], lengths: list[int]) -> float:
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths) / padded


@pytest.mark.parametrize("n", [1, 31, 32, 1779, 3201])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("pool_batches", [1, 3, 50])
def test_every_example_exactly_once_per_epoch(n: int, shuffle: bool, pool_batches: int) -> None:
    sampler = BucketBySequenceLength(random_lengths(n), 32, shuffle=shuffle, seed=3, pool_batches=pool_batches)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert all(1 <= len(b) <= 32 for b in batches)
        assert Counter(i for b in batches for i in b) == Counter(range(n))


def test_deterministic_per_seed_and_epoch() -> None:
    lengths = random_lengths(1000)

    def epoch_batches(seed: int, epoch: int) -> list[list[int]]:
        s = BucketBySequenceLength(lengths, 32, shuffle=True, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert epoch_batches(0, 0) == epoch_batches(0, 0)
    assert epoch_batches(0, 1) == epoch_batches(0, 1)
    assert epoch_batches(0, 0) != epoch_batches(0, 1)  # a new order every epoch
    assert epoch_batches(0, 0) != epoch_batches(1, 0)  # and per seed
    # iterating twice without set_epoch repeats the epoch
    s = BucketBySequenceLength(lengths, 32, seed=5)
    assert list(s) == list(s)


def test_evaluation_order_is_fixed_and_sorted() -> None:
    lengths = random_lengths(300)
    a = list(BucketBySequenceLength(lengths, 64, shuffle=False, seed=0))
    b = list(BucketBySequenceLength(lengths, 64, shuffle=False, seed=9))
    assert a == b
    flat = [lengths[i] for batch in a for i in batch]
    assert flat == sorted(flat, reverse=True)


def test_bucketing_reduces_padding(bbc_datamodule) -> None:
    lengths = bbc_datamodule.datasets["train"].lengths
    bucketed = BucketBySequenceLength(lengths, 32, shuffle=True, seed=0)
    plain = BucketBySequenceLength(lengths, 32, shuffle=True, seed=0, pool_batches=1)  # what bucket=false uses
    r_bucketed, r_plain = padding_ratio(list(bucketed), lengths), padding_ratio(list(plain), lengths)
    assert r_bucketed < 0.5 * r_plain, (r_bucketed, r_plain)
    # the batches of one pool still come in a random order (not longest first)
    first = [max(lengths[i] for i in b) for b in bucketed]
    assert first != sorted(first, reverse=True)


def test_datamodule_bucket_flag(bbc_datamodule) -> None:
    """``data.bucket`` switches the training loader between bucketed and plain random batches."""
    lengths = bbc_datamodule.datasets["train"].lengths
    ratios = {}
    for bucket in (True, False):
        dm = copy.copy(bbc_datamodule)  # shares the encoded data; the session fixture stays as it is
        dm.bucket = bucket
        ratios[bucket] = padding_ratio([b.index.tolist() for b in dm.train_dataloader()], lengths)
    assert ratios[True] < 0.5 * ratios[False], ratios


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n", [70, 1779, 2000])
def test_ranks_share_the_batches(n: int, shuffle: bool) -> None:
    """Under data parallelism the ranks' batches together are one epoch, each example once."""
    lengths = random_lengths(n)
    per_rank = [
        list(BucketBySequenceLength(lengths, 32, shuffle=shuffle, seed=1, num_replicas=2, rank=r)) for r in range(2)
    ]
    for r, batches in enumerate(per_rank):
        assert len(batches) == len(BucketBySequenceLength(lengths, 32, shuffle=shuffle, seed=1, num_replicas=2, rank=r))
    seen = Counter(i for batches in per_rank for b in batches for i in b)
    if shuffle:  # training: ranks get equal step counts; at most one batch per extra rank repeats
        assert set(seen) == set(range(n))
        assert sum(seen.values()) - n <= 32 * (2 - 1)
    else:  # evaluation: every example exactly once
        assert seen == Counter(range(n))


def test_ranks_get_the_same_number_of_training_batches() -> None:
    lengths = random_lengths(70)  # 3 batches of <= 32
    counts = [len(BucketBySequenceLength(lengths, 32, shuffle=True, num_replicas=2, rank=r)) for r in range(2)]
    assert counts[0] == counts[1], counts


def test_rejects_empty_batches() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        BucketBySequenceLength([3, 4], 0)
