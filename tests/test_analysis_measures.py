"""Each measurement against a value known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnbench.analysis.adversarial import Adversarial
from attnbench.analysis.agreement import SeedAgreement
from attnbench.analysis.context import BatchAnalysis
from attnbench.analysis.eraser import Eraser, rationale_sizes
from attnbench.analysis.erasure import Erasure, erase
from attnbench.analysis.permutation import Permutation, permutations
from attnbench.analysis.rationale import Rationale

from .analysis_toys import OneTokenModel, inputs, noise_with_key


def test_permutations_stay_within_valid_positions() -> None:
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    index = permutations(mask, 7, torch.Generator().manual_seed(0))
    assert index.shape == (2, 7, 4)
    assert (index[0, :, 3] == 3).all() and (index[1, :, 1:] == torch.tensor([1, 2, 3])).all()
    assert (index[0, :, :3].sort(-1).values == torch.tensor([0, 1, 2])).all()


def test_permuting_uniform_attention_changes_nothing() -> None:
    batch = BatchAnalysis(OneTokenModel(sharpness=0.0), inputs([noise_with_key(6, 1), noise_with_key(3, 0)]))
    columns = Permutation(n_perm=10).measure(batch)
    np.testing.assert_allclose(columns["median_tvd"], 0.0, atol=1e-6)


def test_permuting_peaked_attention_on_the_deciding_token_changes_the_output() -> None:
    batch = BatchAnalysis(OneTokenModel(sharpness=8.0), inputs([noise_with_key(8, 3)]))
    assert Permutation(n_perm=20).measure(batch)["median_tvd"][0] > 0.3


def test_adversary_of_a_model_that_ignores_attention_reaches_ln2_within_epsilon() -> None:
    batch = BatchAnalysis(
        OneTokenModel(sharpness=20.0, ignore_attention=True),
        inputs([noise_with_key(8, 3), noise_with_key(5, 0, seed=1)]),
    )
    adversary = Adversarial(steps=300)
    _, change = adversary.search(batch)
    assert (change <= adversary.epsilon).all()
    columns = adversary.measure(batch)
    assert (columns["emax_jsd"] > 0.65).all() and (columns["emax_jsd"] <= math.log(2) + 1e-6).all()


def test_adversary_cannot_move_attention_that_decides() -> None:
    batch = BatchAnalysis(OneTokenModel(sharpness=20.0), inputs([noise_with_key(8, 3)]))
    assert Adversarial(steps=200).measure(batch)["emax_jsd"][0] < 0.2


def test_erase_renormalises_each_row_to_its_mass() -> None:
    weights = torch.tensor([[[0.5, 0.3, 0.2, 0.0], [0.0, 0.0, 0.6, 0.0]]])  # [1, R=2, T=4], row 2 sums to 0.6
    mask = torch.tensor([[True, True, True, False]])
    out = erase(weights, torch.tensor([[[True, False, False, False], [False, False, True, False]]]), mask)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.6, 0.4, 0.0]))
    torch.testing.assert_close(out[0, 1, 1], torch.tensor([0.3, 0.3, 0.0, 0.0]))  # nothing left: uniform


def test_erasure_flips_exactly_when_the_top_token_goes() -> None:
    # the key pushes to class 0 (3 · α_key); without it the bias decides class 1
    model = OneTokenModel(sharpness=6.0, bias=1.0)
    batch = BatchAnalysis(model, inputs([noise_with_key(6, 2), noise_with_key(4, 0, seed=1)]))
    assert batch.classes.tolist() == [0, 0]
    columns = Erasure().measure(batch)
    assert columns["flip_top"].tolist() == [1.0, 1.0]
    assert columns["flip_random"].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(columns["frac_to_flip_attention"], [1 / 6, 1 / 4])


def test_rationale_sizes() -> None:
    assert rationale_sizes(torch.tensor([10, 200, 1]), (0.01, 0.5)).tolist() == [[1, 5], [2, 100], [1, 1]]


def test_a_perfect_ranking_beats_random_on_both_aopc() -> None:
    rows = [noise_with_key(20, i, seed=i) for i in (0, 3, 7, 11, 15, 19)]
    columns = Eraser(rankings=("attention", "random")).measure(
        BatchAnalysis(OneTokenModel(sharpness=3.0), inputs(rows))
    )
    comp, suff = columns["comprehensiveness_attention"], columns["sufficiency_attention"]
    assert (comp >= columns["comprehensiveness_random"]).all() and (suff <= columns["sufficiency_random"]).all()
    assert comp.mean() > columns["comprehensiveness_random"].mean() + 0.1
    assert suff.mean() < columns["sufficiency_random"].mean() - 0.1


def test_rationale_mass_is_one_for_one_hot_attention_on_the_gold_token() -> None:
    batch = BatchAnalysis(OneTokenModel(sharpness=1000.0), inputs([noise_with_key(7, 4), noise_with_key(3, 2)]))
    columns = Rationale(rankings=("attention", "gradient")).measure(batch)
    np.testing.assert_allclose(columns["mass_attention"], 1.0)
    assert columns["rank_attention"].tolist() == [1.0, 1.0] and columns["rank_gradient"].tolist() == [1.0, 1.0]


def test_rationale_without_gold_tokens_says_which_data_has_them() -> None:
    x = inputs([noise_with_key(4, 1)])
    x.gold = None
    with pytest.raises(ValueError, match="synthetic"):
        Rationale().measure(BatchAnalysis(OneTokenModel(), x))


def test_seed_agreement_of_a_model_with_itself_is_perfect() -> None:
    x = inputs([noise_with_key(5, 1), noise_with_key(4, 3)])
    same = SeedAgreement(others=[OneTokenModel()]).measure(BatchAnalysis(OneTokenModel(), x))
    np.testing.assert_allclose(same["jsd_attention"], 0.0, atol=1e-7)
    other = SeedAgreement(others=[OneTokenModel(sharpness=0.0)]).measure(BatchAnalysis(OneTokenModel(), x))
    assert (other["jsd_attention"] > 0.05).all() and (other["tvd_output"] > 0.05).all()
