"""Paired tests across seeds, and Holm's correction for many of them.

The test: an exact two-sided paired sign-flip (permutation) test on the per-seed differences. Under the
null hypothesis each difference is as likely to have either sign; the p-value is the share of the 2^n
sign patterns whose |mean difference| is at least the observed one. It is exact for any n (every
pattern is enumerated up to :data:`EXACT_MAX` pairs; above, a fixed-seed sample of them counted with the
observed pattern itself, (hits + 1) / (samples + 1), Phipson & Smyth 2010), needs no normal
distribution, and cannot reach p = 0: with n seeds the smallest p is 2 / 2^n (0.25 with 3 seeds, so
p < 0.05 needs 6 seeds and p < 0.01 needs 8). A t-test on 2-3 float32 differences that are equal up to
rounding returns p ≈ 0, which no 3 values can support.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

EXACT_MAX = 16  # 2^16 sign patterns enumerated; more pairs are sampled
SAMPLES = 100_000
MIN_PAIRS = 2


def paired_diffs(a: dict[int, float], b: dict[int, float]) -> list[float]:
    """``a[s] − b[s]`` for the seeds both have, in seed order."""
    return [a[s] - b[s] for s in sorted(set(a) & set(b))]


def sign_flip_p_value(diffs: list[float]) -> float | None:
    """The exact two-sided paired sign-flip test's p-value of ``diffs``; None below :data:`MIN_PAIRS`
    pairs (not testable). All-zero differences give p = 1."""
    n = len(diffs)
    if n < MIN_PAIRS:
        return None
    observed = abs(sum(diffs))
    # float32 metrics: differences equal up to rounding must tie, not fall on either side by 1e-9
    tol = 1e-6 * max(sum(abs(d) for d in diffs), 1e-12)
    patterns: Iterable[tuple[int, ...]]
    if n <= EXACT_MAX:
        patterns = itertools.product((1, -1), repeat=n)
        total = 2**n
    else:
        rng = random.Random(0)
        patterns = (tuple(rng.choice((1, -1)) for _ in range(n)) for _ in range(SAMPLES))
        total = SAMPLES
    hits = sum(abs(sum(s * d for s, d in zip(signs, diffs, strict=True))) >= observed - tol for signs in patterns)
    if n > EXACT_MAX:  # a sample may miss the extreme patterns: the observed one counts, so p > 0
        return (hits + 1) / (total + 1)
    return hits / total


def t_test_p_value(diffs: list[float]) -> float | None:
    """The two-sided paired t-test's p-value, for reference beside the exact test; None below 2 pairs or
    when the differences are constant up to float32 rounding (the t statistic is then meaningless)."""
    if len(diffs) < MIN_PAIRS or max(diffs) - min(diffs) <= 1e-6 * max(max(abs(d) for d in diffs), 1e-12):
        return None
    from scipy import stats  # scipy takes a second to import: only when a test is due

    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of a family (None entries, untested, stay None and do not
    count in the family): the k-th smallest of m is multiplied by m − k + 1, kept monotone, capped at 1."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for k, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out


def min_p(n: int) -> float:
    """The smallest p-value the sign-flip test can give with ``n`` pairs."""
    return 2 / 2**n if n >= MIN_PAIRS else 1.0
