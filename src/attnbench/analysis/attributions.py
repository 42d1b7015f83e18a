"""Token importances other than attention, each [B, T] (zero at padding), for the predicted class.

* :func:`gradient_x_input`: |Σ_e ∂p/∂x_te · x_te| with the attention weights detached (Jain & Wallace
  2019, their ``XxE[X]``: the embedding-level gradient times the embedding, magnitude);
* :func:`leave_one_out`: |p(x) − p(x without token t)| for the predicted class (``probability``), or
  Jain & Wallace's TVD ½‖p(x) − p(x without t)‖₁ of the whole output distributions (``tvd``; their
  ``remove_and_run`` sums |Δ| over the classes, twice the TVD: the same ranking). Equal for two
  classes; every deletion of a batch run as one batch;
* :func:`integrated_gradients`: Sundararajan et al. 2017 on the embedding, from the padding
  embedding, a midpoint Riemann sum of ``n_steps`` points (signed; Σ_t ≈ p(x) − p(baseline));
* :func:`attention_gradient`: ∂p/∂α_t summed over rows (Serrano & Smith's gradient ranking).

p is the softmax probability of the class the model predicts on the full input.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.analysis.core import (
    PAD_ID,
    Explainable,
    Inputs,
    gradients_enabled,
    keep_tokens,
    logits_from_embeddings,
    probabilities,
    tvd,
)

LOO_MEASURES = ("probability", "tvd")


def predicted(model: Explainable, inputs: Inputs) -> tuple[Tensor, Tensor]:
    """The output distributions [B, C] and predicted classes [B] on the full inputs."""
    probs = probabilities(model, inputs.ids, inputs.lengths, chunk=len(inputs))
    return probs, probs.argmax(-1)


def _picked(logits: Tensor, classes: Tensor) -> Tensor:
    return torch.softmax(logits.float(), -1).gather(-1, classes[:, None]).squeeze(-1)  # [B]


def gradient_x_input(model: Explainable, inputs: Inputs, classes: Tensor) -> Tensor:
    """|∂p_c/∂x · x| per token [B, T], attention detached; ``classes`` [B] the class c per example."""
    with gradients_enabled():
        embedded = model.embed(inputs.ids).detach().requires_grad_(True)
        logits = logits_from_embeddings(model, embedded, inputs.lengths, inputs.mask, detach_attention=True)
        (grad,) = torch.autograd.grad(_picked(logits, classes).sum(), embedded)
    return ((grad * embedded).sum(-1).abs() * inputs.mask).detach()


def integrated_gradients(
    model: Explainable, inputs: Inputs, classes: Tensor, n_steps: int = 50, chunk: int = 256
) -> Tensor:
    """Integrated gradients per token [B, T] (signed) from the all-padding embedding; the path points
    of all examples run as batches of about ``chunk`` sequences."""
    b = len(inputs)
    with torch.no_grad():
        x = model.embed(inputs.ids)
        base = model.embed(torch.full_like(inputs.ids, PAD_ID))
    alphas = (torch.arange(n_steps, device=x.device, dtype=x.dtype) + 0.5) / n_steps  # [S]
    total = torch.zeros_like(x)
    per_call = max(1, chunk // b)
    for start in range(0, n_steps, per_call):
        a = alphas[start : start + per_call]
        total += _path_gradient(model, inputs, classes, base, x, a).sum(0)
    return ((total / n_steps * (x - base)).sum(-1) * inputs.mask).detach()


def _path_gradient(
    model: Explainable, inputs: Inputs, classes: Tensor, base: Tensor, x: Tensor, alphas: Tensor
) -> Tensor:
    """∂p_c/∂x at base + α(x − base) for each α of ``alphas`` [S]: [S, B, T, E], as one batch of S·B."""
    s = len(alphas)
    with gradients_enabled():
        path = (base[None] + alphas[:, None, None, None] * (x - base)[None]).flatten(0, 1).requires_grad_(True)
        logits = logits_from_embeddings(model, path, inputs.lengths.repeat(s), inputs.mask.repeat(s, 1))
        (grad,) = torch.autograd.grad(_picked(logits, classes.repeat(s)).sum(), path)
    return grad.view(s, *x.shape)


def leave_one_out(
    model: Explainable, inputs: Inputs, probs: Tensor, classes: Tensor, chunk: int = 256, measure: str = "probability"
) -> Tensor:
    """The change [B, T] when token t is deleted (the sequence closes up, one token shorter): |Δp_c| of
    the class ``classes`` [B] (``measure="probability"``) or the TVD between the output distributions
    (``"tvd"``, Jain & Wallace's); ``probs`` [B, C] the outputs on the full inputs."""
    if measure not in LOO_MEASURES:
        raise ValueError(f"analysis.loo={measure!r} is not a leave-one-out measure; use one of {list(LOO_MEASURES)}")
    b, t = inputs.ids.shape
    device = inputs.ids.device
    position = torch.arange(t, device=device)
    keep = inputs.mask[:, None, :] & (position[None, :, None] != position[None, None, :])  # [B, T(del), T]
    which = inputs.mask.flatten()  # only deletions of valid tokens run
    ids, lengths = keep_tokens(inputs.ids[:, None, :].expand(b, t, t).flatten(0, 1)[which], keep.flatten(0, 1)[which])
    new = probabilities(model, ids, lengths, chunk)  # [N, C]
    old = probs.float().repeat_interleave(t, 0)[which]  # [N, C]
    delta = torch.zeros(b * t, device=device)
    if measure == "tvd":
        delta[which] = tvd(new, old)
    else:
        picked = classes.repeat_interleave(t)[which][:, None]
        delta[which] = (new.gather(-1, picked) - old.gather(-1, picked)).squeeze(-1).abs()
    return delta.view(b, t)


def attention_gradient(model: Explainable, inputs: Inputs, classes: Tensor) -> Tensor:
    """∂p_c/∂α_t [B, T] summed over the rows of the weights (the encoder states held fixed)."""
    with torch.no_grad():
        attended = model.attend(model.embed(inputs.ids), inputs.lengths, inputs.mask)
    with gradients_enabled():
        weights = attended.weights.detach().requires_grad_(True)
        logits = model.decide(attended, weights[:, None])[:, 0]
        (grad,) = torch.autograd.grad(_picked(logits, classes).sum(), weights)
    return (grad.sum(1) * inputs.mask).detach()
