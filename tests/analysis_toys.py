"""Tiny hand-built models for the analysis tests, whose explanations are known by construction.

:class:`OneTokenModel`: only token :data:`KEY` has a non-zero embedding (e_0 = 1), the encoder is the
identity, attention scores are ``sharpness * x_t0`` and the logits are ``W · Σ_t α_t x_t + bias``.
So the output depends on the key token alone: every other token has zero gradient×input and zero
integrated gradients, and deleting any one of them changes the output by the same amount.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.analysis.core import Attended, Inputs

KEY = 5
VOCAB = 12


class OneTokenModel(nn.Module):
    """See the module docstring. ``ignore_attention``: the logits read the mean state instead (the
    output cannot depend on the weights)."""

    def __init__(self, sharpness: float = 4.0, ignore_attention: bool = False, bias: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 3)
        with torch.no_grad():
            self.embedding.weight.zero_()
            self.embedding.weight[KEY, 0] = 1.0
            if ignore_attention:  # other tokens carry information too, so outputs are not constant
                self.embedding.weight[2:, 1] = torch.linspace(-1, 1, VOCAB - 2)
        self.sharpness, self.ignore_attention = sharpness, ignore_attention
        self.head = nn.Linear(3, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[3.0, 1.0, 0.0], [-3.0, -1.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([-bias, bias]))

    def embed(self, ids: Tensor) -> Tensor:
        return self.embedding(ids)

    def attend(self, embedded: Tensor, lengths: Tensor, mask: Tensor) -> Attended:
        scores = (self.sharpness * embedded[..., 0]).masked_fill(~mask, float("-inf"))
        return Attended(embedded, mask, torch.softmax(scores, -1)[:, None, :] * mask[:, None, :])

    def decide(self, attended: Attended, weights: Tensor) -> Tensor:
        if self.ignore_attention:
            m = attended.mask[:, None, :].to(weights.dtype)
            mean = (m @ attended.states) / m.sum(-1, keepdim=True)  # [B, 1, D]
            return self.head(mean.expand(-1, weights.shape[1], -1))
        return self.head(torch.einsum("bvrt,btd->bvrd", weights, attended.states).mean(2))


def inputs(rows: list[list[int]]) -> Inputs:
    """Padded :class:`Inputs` for token-id lists, with ``gold`` at the key token and ``index`` 0..B-1."""
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return Inputs(ids, lengths, gold=ids == KEY, index=torch.arange(len(rows)))


def noise_with_key(length: int, key_at: int, seed: int = 0) -> list[int]:
    """``length`` noise tokens (ids 2..VOCAB-1 except KEY) with KEY at ``key_at``."""
    gen = torch.Generator().manual_seed(seed)
    choices = torch.tensor([i for i in range(2, VOCAB) if i != KEY])
    row = choices[torch.randint(len(choices), (length,), generator=gen)].tolist()
    row[key_at] = KEY
    return row
