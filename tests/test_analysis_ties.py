"""Rankings of tied scores do not follow token order: a ranking whose scores all tie (uniform attention)
is undefined in every measurement, as Kendall τ is; partial ties take their average rank (rationale)
or a random order (ERASER, erasure)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.core import all_tied, rank_order, top_k_mask
from attnbench.analysis.eraser import Eraser
from attnbench.analysis.erasure import Erasure
from attnbench.analysis.rationale import Rationale, gold_rank

from .analysis_toys import OneTokenModel, inputs, noise_with_key

# uniform attention (sharpness 0), the deciding token first in one example and last in the other
UNIFORM = BatchAnalysis(OneTokenModel(sharpness=0.0), inputs([noise_with_key(10, 0), noise_with_key(10, 9, seed=1)]))


def test_all_tied_needs_two_equal_valid_scores() -> None:
    scores = torch.tensor([[0.2, 0.2, 0.2, 9.0], [0.2, 0.3, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False], [True, False, False, False]])
    assert all_tied(scores, mask).tolist() == [True, False, False]


def test_uniform_attention_has_no_gold_rank_whether_the_gold_token_is_first_or_last() -> None:
    columns = Rationale(rankings=("attention", "gradient")).measure(UNIFORM)
    assert np.isnan(columns["rank_attention"]).all()  # was 1 (first) and 10 (last): position
    assert columns["rank_gradient"].tolist() == [1.0, 1.0]  # the gradient still ranks the key first
    np.testing.assert_allclose(columns["mass_attention"], 0.1, rtol=1e-6)  # mass is no ranking: 1 of 10 tokens
    summary = Rationale(rankings=("attention",)).summarize(pd.DataFrame(columns))
    assert summary["top1_attention"] == 0.0 and math.isnan(summary["rank_attention_mean"])


def test_gold_rank_averages_ties() -> None:
    scores = torch.tensor([[0.5, 0.5, 0.1, 0.5], [0.5, 0.5, 0.1, 0.5], [0.9, 0.5, 0.5, 0.1]])
    gold = torch.tensor([[False, True, False, False], [False, False, True, False], [False, False, True, False]])
    mask = torch.ones(3, 4, dtype=torch.bool)
    # tied with two others for the top three ranks: 2; alone at the bottom: 4; tied for ranks 2-3: 2.5
    assert gold_rank(scores, gold, mask).tolist() == [2.0, 4.0, 2.5]


def test_uniform_attention_has_no_eraser_scores() -> None:
    columns = Eraser(rankings=("attention", "random"), bins=[0.1, 0.2]).measure(UNIFORM)
    assert np.isnan(columns["comprehensiveness_attention"]).all() and np.isnan(columns["sufficiency_attention"]).all()
    assert not np.isnan(columns["comprehensiveness_random"]).any()


def test_uniform_attention_has_no_top_token_to_erase() -> None:
    columns = Erasure(orders=["attention", "random"]).measure(UNIFORM)
    assert np.isnan(columns["flip_top"]).all() and np.isnan(columns["jsd_top"]).all()
    assert columns["tied_attention"].tolist() == [1.0, 1.0] and columns["tied_random"].tolist() == [0.0, 0.0]
    assert np.isnan(columns["frac_to_flip_attention"]).all()
    summary = Erasure(orders=["attention", "random"]).summarize(pd.DataFrame(columns))
    assert math.isnan(summary["never_flips_attention"])  # no example ranked, not "never flips"
    assert math.isnan(summary["flip_top"])


def test_partial_ties_follow_the_tiebreak_not_the_position() -> None:
    scores = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])  # hard attention: one token, the rest tied at 0
    mask = torch.ones(1, 5, dtype=torch.bool)
    tiebreak = torch.tensor([[0.0, 0.1, 0.9, 0.3, 0.5]])
    assert rank_order(scores, mask, tiebreak).tolist() == [[0, 2, 4, 3, 1]]
    assert rank_order(scores, mask).tolist() == [[0, 1, 2, 3, 4]]  # without a tiebreak: position
    assert top_k_mask(scores, mask, torch.tensor([2]), tiebreak).tolist() == [[True, False, True, False, False]]
