"""Tanh scores ``s[b, i, j] = vᵀ tanh(a[b, i] + c[b, j])`` in bounded memory.

Additive attention (Bahdanau: a = W q, c = U k + bias) and Keras's ``score_mode='concat'`` (a = s·q,
c = s·k, v = the learned scalar broadcast over the features) share this form. Written directly, the
hidden layer is a [B, Tq, Tk, H] tensor, and autograd keeps it for the backward pass: with
``query=self`` at B=128, T=400, H=128 that is 10.5 GB per copy.

:class:`ChunkedTanhScores` computes the scores a block of queries at a time and keeps only a, c and
v for the backward pass, where it recomputes each block's tanh. No tensor of size Tq·Tk·H exists at
any time, only blocks of [B, chunk, Tk, H]; the gradients are exact (the same formula; only the
order of the sums differs).

``chunk_size`` (the config key ``attention.chunk_size``):

* ``"auto"``: blocks of as many queries as fit the device's :data:`BUDGET_BYTES` (at least one
  query; all of them when they fit). Even when the whole layer fits, one chunked block was faster
  than the direct form (CPU, B=32, T=40, H=128: 15–17 ms against 26–47 ms a training step).
* ``"direct"``: always the direct form (what the code did before; for benchmarks and tests).
* an int N (or its string): blocks of N queries, whatever their size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

# Bytes of one [B, chunk, Tk, H] block, by device type. CPU (2 cores, B=32, T=400, H=128, fp32): blocks
# of 0.5–32 MB took the same CPU time, 64 MB about 20% more; so 32 MB. A GPU wants large blocks (each
# block is ~10 kernel launches), and 256 MB is still ~1/40 of the direct form's hidden tensor there.
BUDGET_BYTES: dict[str, int] = {"cpu": 32 * 2**20, "cuda": 256 * 2**20}
DEFAULT_BUDGET_BYTES = 32 * 2**20  # any other device


def chunk_rows(
    chunk_size: int | str, batch: int, tk: int, hidden: int, itemsize: int, device: str = "cpu"
) -> int | None:
    """Queries per block of a [batch, Tq, tk, hidden] hidden layer of ``itemsize``-byte elements.

    None means "use the direct form". ``chunk_size``: ``"auto"`` (as many queries as fit the device's
    budget, at least one), ``"direct"`` or a positive int (module docstring).
    """
    if chunk_size == "direct":
        return None
    if chunk_size != "auto":
        return int(check_chunk_size(chunk_size))
    row_bytes = max(1, batch * tk * hidden * itemsize)  # one query's slice of the hidden layer
    return max(1, BUDGET_BYTES.get(device, DEFAULT_BUDGET_BYTES) // row_bytes)


def check_chunk_size(chunk_size: int | str) -> int | str:
    """``chunk_size`` as ``"auto"``, ``"direct"`` or an int >= 1; raises ValueError for anything else."""
    if chunk_size in ("auto", "direct"):
        return chunk_size
    text = str(chunk_size)  # an int, or its string from the command line; not 1.5, not True
    if isinstance(chunk_size, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"attention.chunk_size={chunk_size!r}: use auto, direct or a positive int")
    return int(text)


def _blocks(a: Tensor, c: Tensor, rows: int) -> Iterator[tuple[slice, Tensor]]:
    """(query slice, tanh(a[:, i] + c[:, j]) [B, n, Tk, H]) for blocks of ``rows`` queries.

    Every block is written into one buffer: a fresh multi-MB tensor per block costs more in page
    faults than the add itself, and a reused one stays in cache.
    """
    b, tq, h = a.shape
    buffer = a.new_empty(b * min(rows, tq) * c.shape[1] * h)
    for start in range(0, tq, rows):
        block = a[:, start : start + rows]
        out = buffer[: block.numel() * c.shape[1]].view(b, block.shape[1], c.shape[1], h)
        yield slice(start, start + rows), torch.add(block[:, :, None, :], c[:, None, :, :], out=out).tanh_()


class ChunkedTanhScores(torch.autograd.Function):
    """``apply(a [B, Tq, H], c [B, Tk, H], v [H], rows) → scores [B, Tq, Tk]``, ``rows`` queries a block."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, c: Tensor, v: Tensor, rows: int) -> Tensor:
        scores = a.new_empty(a.shape[0], a.shape[1], c.shape[1])
        for queries, hidden in _blocks(a, c, rows):
            scores[:, queries] = hidden @ v
        ctx.save_for_backward(a, c, v)
        ctx.rows = rows
        return scores

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        a, c, v = ctx.saved_tensors
        need_a, need_c, need_v = ctx.needs_input_grad[:3]
        # Sums over many blocks: accumulate low-precision dtypes (bf16 under autocast) in float32.
        acc = torch.promote_types(a.dtype, torch.float32)
        grad_a = torch.empty_like(a) if need_a else None
        grad_c = torch.zeros(c.shape, dtype=acc, device=c.device) if need_c else None
        grad_v = torch.zeros(v.shape, dtype=acc, device=v.device) if need_v else None
        for queries, hidden in _blocks(a, c, ctx.rows):  # the tanh recomputed, block by block
            g = grad[:, queries]  # [B, n, Tk]
            if grad_v is not None:  # ∂s/∂v = tanh(.), summed over b, i, j: one matrix-vector product
                grad_v += (g.reshape(1, -1) @ hidden.flatten(0, 2)).squeeze(0)
            # ∂s/∂(a_i + c_j) = v ⊙ g ⊙ (1 − tanh²): one fused kernel, in place; v comes after the sums
            torch.ops.aten.tanh_backward.grad_input(g[..., None].expand_as(hidden), hidden, grad_input=hidden)
            if grad_a is not None:
                grad_a[:, queries] = hidden.sum(2) * v
            if grad_c is not None:
                grad_c += hidden.sum(1)
        if grad_c is not None:
            grad_c = (grad_c * v).to(c.dtype)
        return grad_a, grad_c, None if grad_v is None else grad_v.to(v.dtype), None


def tanh_scores(a: Tensor, c: Tensor, v: Tensor, chunk_size: int | str = "auto") -> Tensor:
    """Scores [B, Tq, Tk] = vᵀ tanh(a_i + c_j) for a [B, Tq, H], c [B, Tk, H], v [H].

    Chunked (:class:`ChunkedTanhScores`) or direct as ``chunk_size`` says (module docstring).
    """
    c, v = c.to(a.dtype), v.to(a.dtype)  # autocast gives bf16 projections but leaves v in float32
    rows = chunk_rows(chunk_size, a.shape[0], c.shape[1], a.shape[2], a.element_size(), a.device.type)
    if rows is None:
        return (a[:, :, None, :] + c[:, None, :, :]).tanh() @ v
    return ChunkedTanhScores.apply(a, c, v, rows)
