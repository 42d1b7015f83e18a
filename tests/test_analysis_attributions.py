"""Token importances and Kendall τ on models whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import torch

from attnbench.analysis.attributions import integrated_gradients, leave_one_out, predicted
from attnbench.analysis.context import BatchAnalysis, Settings
from attnbench.analysis.core import Inputs, jsd, keep_tokens, probabilities, tvd
from attnbench.analysis.kendall import Kendall

from .analysis_toys import KEY, OneTokenModel, inputs, noise_with_key


def test_keep_tokens_closes_up_the_sequence() -> None:
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    keep = torch.tensor([[True, False, True, True], [False, True, False, False]])
    kept, lengths = keep_tokens(ids, keep)
    assert kept.tolist() == [[3, 5, 6, 0], [8, 0, 0, 0]]
    assert lengths.tolist() == [3, 1]


def test_divergences() -> None:
    p, q = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert math.isclose(float(jsd(p, q)), math.log(2), rel_tol=1e-6)
    assert float(jsd(p, p)) == 0.0
    assert float(tvd(p, q)) == 1.0


def test_one_token_model_ranks_the_key_first_everywhere_and_tau_is_one() -> None:
    rows = [noise_with_key(6, 2), noise_with_key(9, 0, seed=1), noise_with_key(4, 3, seed=2)]
    batch = BatchAnalysis(OneTokenModel(), inputs(rows), Settings(ig_steps=20))
    key_at = torch.tensor([2, 0, 3])
    for name in ("attention", "gradient", "loo", "ig"):
        scores = batch.ranking(name).masked_fill(~batch.inputs.mask, -1)
        assert scores.argmax(1).tolist() == key_at.tolist(), name
    columns = Kendall().measure(batch)
    for pair in ("attn_grad", "attn_loo", "attn_ig", "grad_loo"):
        np.testing.assert_allclose(columns[f"tau_{pair}"], 1.0, err_msg=pair)


def test_leave_one_out_is_one_deletion_at_a_time() -> None:
    model = OneTokenModel(sharpness=1.0)
    rows = [noise_with_key(5, 1), noise_with_key(3, 2, seed=3)]
    x = inputs(rows)
    probs, classes = predicted(model, x)
    batched = leave_one_out(model, x, probs, classes, chunk=3)
    for b, row in enumerate(rows):
        for t in range(len(row)):
            rest = torch.tensor([row[:t] + row[t + 1 :]])
            p = probabilities(model, rest, torch.tensor([len(row) - 1]))[0, classes[b]]
            assert math.isclose(float(batched[b, t]), abs(float(p - probs[b, classes[b]])), abs_tol=1e-6)
    assert (batched[1, 3:] == 0).all()  # padding


def test_integrated_gradients_are_complete() -> None:
    """Σ_t IG_t = p(x) − p(baseline) (up to the Riemann sum's error)."""
    model = OneTokenModel(sharpness=2.0, ignore_attention=True)
    x = inputs([noise_with_key(5, 1), noise_with_key(7, 6, seed=4)])
    probs, classes = predicted(model, x)
    ig = integrated_gradients(model, x, classes, n_steps=64)
    base = Inputs(torch.zeros_like(x.ids), x.lengths)
    with torch.no_grad():
        p_base = probabilities(model, base.ids, base.lengths).gather(1, classes[:, None])[:, 0]
    # probabilities() trims to the longest length; the baseline is all padding ids over valid positions
    expected = probs.gather(1, classes[:, None])[:, 0] - p_base
    torch.testing.assert_close(ig.sum(1), expected, atol=1e-3, rtol=1e-3)
    assert KEY in x.ids[0].tolist()


def test_integrated_gradients_do_not_depend_on_the_chunk_size() -> None:
    model = OneTokenModel(sharpness=2.0)
    x = inputs([noise_with_key(5, 1), noise_with_key(7, 6, seed=4), noise_with_key(3, 0)])
    _, classes = predicted(model, x)
    torch.testing.assert_close(
        integrated_gradients(model, x, classes, 10, chunk=4), integrated_gradients(model, x, classes, 10, chunk=1000)
    )
