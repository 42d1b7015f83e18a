"""Jain & Wallace's leave-one-out for more than two classes (the TVD of the output distributions, their
``remove_and_run``), pinned against deletions run one at a time, and the gradient as their code takes it
(the predicted class's probability, attention detached)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from attnbench.analysis.attributions import gradient_x_input, leave_one_out, predicted
from attnbench.analysis.core import Attended, Inputs, probabilities
from attnbench.analysis.session import settings_of


class ThreeClassModel(nn.Module):
    """Random embeddings, softmax attention on a learned score, a 3-class head: a deletion moves
    probability between the two classes that were not predicted too, so TVD ≠ |Δp_ŷ|."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.embedding, self.score, self.head = nn.Embedding(9, 4), nn.Linear(4, 1), nn.Linear(4, 3)

    def embed(self, ids: Tensor) -> Tensor:
        return self.embedding(ids)

    def attend(self, embedded: Tensor, lengths: Tensor, mask: Tensor) -> Attended:
        scores = self.score(embedded).squeeze(-1).masked_fill(~mask, float("-inf"))
        return Attended(embedded, mask, torch.softmax(scores, -1)[:, None, :] * mask[:, None, :])

    def decide(self, attended: Attended, weights: Tensor) -> Tensor:
        return self.head(torch.einsum("bvrt,btd->bvrd", weights, attended.states).mean(2))


ROWS = [[1, 4, 2, 7, 3], [5, 8, 6]]


def batch() -> tuple[ThreeClassModel, Inputs]:
    ids = torch.zeros(2, 5, dtype=torch.long)
    for i, row in enumerate(ROWS):
        ids[i, : len(row)] = torch.tensor(row)
    return ThreeClassModel().eval(), Inputs(ids, torch.tensor([len(r) for r in ROWS]))


def test_leave_one_out_tvd_is_jain_and_wallaces_output_change() -> None:
    model, x = batch()
    probs, classes = predicted(model, x)
    tvd = leave_one_out(model, x, probs, classes, measure="tvd")
    picked = leave_one_out(model, x, probs, classes, measure="probability")
    for b, row in enumerate(ROWS):
        for t in range(len(row)):
            rest = torch.tensor([row[:t] + row[t + 1 :]])
            new = probabilities(model, rest, torch.tensor([len(row) - 1]))[0]
            # their output_diff: Σ_c |Δp_c| (twice the TVD; the ranking is the same)
            assert math.isclose(float(tvd[b, t]), 0.5 * float((new - probs[b]).abs().sum()), abs_tol=1e-6)
            assert math.isclose(float(picked[b, t]), abs(float(new[classes[b]] - probs[b, classes[b]])), abs_tol=1e-6)
    assert not torch.allclose(tvd, picked, atol=1e-4)  # three classes: the measures differ
    assert (tvd[1, 3:] == 0).all()


def test_gradient_is_of_the_predicted_class_probability_with_attention_detached() -> None:
    model, x = batch()
    _, classes = predicted(model, x)
    grad = gradient_x_input(model, x, classes)
    embedded = model.embed(x.ids).detach().requires_grad_(True)
    attended = model.attend(embedded, x.lengths, x.mask)
    logits = model.decide(attended, attended.weights.detach()[:, None])[:, 0]
    p = torch.softmax(logits, -1).gather(-1, classes[:, None]).sum()
    (g,) = torch.autograd.grad(p, embedded)
    torch.testing.assert_close(grad, ((g * embedded).sum(-1).abs() * x.mask).detach())


def test_an_unknown_leave_one_out_measure_is_named() -> None:
    with pytest.raises(ValueError, match=r"analysis.loo='l1'.*probability.*tvd"):
        settings_of({"loo": "l1"})
    assert settings_of({"loo": "tvd"}).loo == "tvd" and settings_of({}).loo == "probability"
