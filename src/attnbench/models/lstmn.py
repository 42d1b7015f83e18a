"""Cheng, Dong & Lapata (2016), "Long Short-Term Memory-Networks for Machine Reading": an LSTM that
attends over its own earlier states while it reads (intra-attention).

One direction, at step t (positions i < t are on the memory tape; h̃_{-1} = 0):

    a_i^t = vᵀ tanh(W_h h_i + W_x x_t + W_h̃ h̃_{t−1})          additive score of each earlier position
    s^t   = softmax_i(a^t)                                       over i < t only (never padding: i < t ≤ L)
    h̃_t  = Σ_i s_i^t h_i,   c̃_t = Σ_i s_i^t c_i                 adaptive summaries of the tapes
    [i, f, o, ĉ]_t = [σ, σ, σ, tanh](W · [h̃_t, x_t] + b)         the LSTM gates, h̃_t in place of h_{t−1}
    c_t = f_t ⊙ c̃_t + i_t ⊙ ĉ_t,   h_t = o_t ⊙ tanh(c_t)         c̃_t in place of c_{t−1}

Where this departs from the paper: at t = 0 the tape is empty, so h̃_0 = c̃_0 = 0 (a plain LSTM step from
a zero state; the paper leaves the first step implicit); the attention size (W_h, W_x, W_h̃: A × ·) is
a setting, ``attention_size`` (default: the hidden size, as in the paper); the score has no bias, as
in the paper, and the gates one bias b (PyTorch's LSTM has two, b_ih + b_hh: the same function).

Cost: the score is O(t·A) per step, so O(T²·A) per sequence; memory stays linear in T for the states
(tapes [T, B, H], [T, B, A]) plus the [B, T, T] weights: the recurrence is one autograd Function whose
backward recomputes each step's tanh(W_h h_i + q_t) instead of keeping T of them ([B, T, T, A] in all).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.config.schema import LSTMNConfig
from attnbench.models.encoder_base import EncoderOutput, last_valid, reverse_within_length


def _scan_forward(gx: Tensor, qx: Tensor, w_g: Tensor, w_r: Tensor, w_k: Tensor, v: Tensor) -> dict[str, Tensor]:
    """The recurrence. ``gx`` [T, B, 4H] = W x + b, ``qx`` [T, B, A] = W_x x (time-major: one contiguous
    row per step); ``w_g`` [4H, H] (on h̃), ``w_r`` [A, H] (W_h̃), ``w_k`` [A, H] (W_h), ``v`` [A].
    Returns the tapes, batch-major: ``h``, ``c`` [B, T, H], ``keys`` (W_h h) [B, T, A]; and, time-major,
    what the backward pass needs: ``tc`` (tanh c), ``hs``/``cs`` (h̃, c̃) [T, B, H], ``q`` [T, B, A],
    ``gates`` [T, B, 4H] (activated); and ``s`` [B, T, T].

    A tape's first t positions, ``tape[:, :t]``, are read in place (batched products take the batch
    stride as it is, no copy), so a valid step computes the same numbers however much padding follows."""
    steps, batch, hidden = gx.shape[0], gx.shape[1], w_g.shape[1]
    out = {name: gx.new_zeros(steps, batch, hidden) for name in ("tc", "hs", "cs")}
    out.update(q=torch.zeros_like(qx), gates=torch.empty_like(gx), s=gx.new_zeros(batch, steps, steps))
    out.update(h=gx.new_zeros(batch, steps, hidden), c=gx.new_zeros(batch, steps, hidden))
    out["keys"] = gx.new_zeros(batch, steps, v.shape[0])
    h, c, keys = out["h"], out["c"], out["keys"]
    work = keys.new_empty(keys.numel())  # the score's [B, t, A], one buffer for every step (no allocation)
    hs_t, cs_t = gx.new_zeros(batch, hidden), gx.new_zeros(batch, hidden)
    for t in range(steps):
        if t > 0:
            q_t = torch.addmm(qx[t], hs_t, w_r.t())  # W_x x_t + W_h̃ h̃_{t−1}
            out["q"][t] = q_t
            u = torch.add(keys[:, :t], q_t[:, None], out=work[: batch * t * v.shape[0]].view(batch, t, -1))
            s_t = torch.softmax(u.tanh_() @ v, dim=1)  # [B, t]
            out["s"][:, t, :t] = s_t
            hs_t = torch.bmm(s_t[:, None], h[:, :t]).squeeze(1)
            cs_t = torch.bmm(s_t[:, None], c[:, :t]).squeeze(1)
            out["hs"][t], out["cs"][t] = hs_t, cs_t
        z = torch.addmm(gx[t], hs_t, w_g.t())
        gates = out["gates"][t]
        torch.sigmoid(z[:, : 3 * hidden], out=gates[:, : 3 * hidden])
        torch.tanh(z[:, 3 * hidden :], out=gates[:, 3 * hidden :])
        i, f, o, g = gates.chunk(4, 1)
        c_t = f * cs_t + i * g
        out["tc"][t] = torch.tanh(c_t)
        h_t = o * out["tc"][t]
        h[:, t], c[:, t] = h_t, c_t
        keys[:, t] = h_t @ w_k.t()
    return out


def _step_back(t: int, dh: Tensor, saved: dict[str, Tensor], grads: dict[str, Tensor], w_g: Tensor) -> Tensor:
    """The LSTM cell of step t backwards: from dL/dh_t (and the c-tape's dL/dc_t) to dL/dz_t, filling
    ``grads`` (``gx`` row t, ``w_g``); returns (dL/dh̃_t from the gates, dL/dc̃_t) stacked [2, B, H]."""
    i, f, o, g = saved["gates"][t].chunk(4, 1)
    tc = saved["tc"][t]
    dc = grads["c"][:, t] + dh * o * (1 - tc * tc)
    dz = torch.cat(
        [dc * g * i * (1 - i), dc * saved["cs"][t] * f * (1 - f), dh * tc * o * (1 - o), dc * i * (1 - g * g)], 1
    )
    grads["gx"][t] = dz
    grads["w_g"].addmm_(dz.t(), saved["hs"][t])
    return torch.stack([dz @ w_g, dc * f])


def _attention_back(
    t: int, dhs: Tensor, dcs: Tensor, saved: dict[str, Tensor], grads: dict[str, Tensor], v: Tensor
) -> Tensor:
    """Step t's read of the tapes backwards (t > 0): from dL/dh̃_t, dL/dc̃_t to the tapes' gradients
    (h, c, keys at positions < t), ``v``'s, and dL/dq_t [B, A], returned. Recomputes u = tanh(keys + q_t).

    dL/dpre = da · v · (1 − u²) is split: da · v (per position a scalar da, summed in ``keys_lin`` and
    multiplied by v when a key's gradient is read) and − da · u² · v, so the [B, t, A] work is four
    passes (add, tanh, square·da, addcmul) besides v's gradient and the sum for q."""
    s_t = saved["s"][:, t, :t]  # [B, t]
    ds = torch.bmm(saved["h"][:, :t], dhs[:, :, None]).squeeze(2)
    ds += torch.bmm(saved["c"][:, :t], dcs[:, :, None]).squeeze(2)  # [B, t]
    grads["h"][:, :t].addcmul_(s_t[..., None], dhs[:, None])
    grads["c"][:, :t].addcmul_(s_t[..., None], dcs[:, None])
    da = s_t * (ds - (s_t * ds).sum(1, keepdim=True))  # softmax backwards
    b, a = s_t.shape[0], v.shape[0]
    u = torch.add(saved["keys"][:, :t], saved["q"][t][:, None], out=grads["work"][: b * t * a].view(b, t, a))
    u.tanh_()  # [B, t, A]
    grads["v"].addmv_(u.reshape(-1, u.shape[-1]).t(), da.reshape(-1))
    u.square_().mul_(da[..., None])  # da · u²
    grads["keys"][:, :t].addcmul_(u, v, value=-1)
    grads["keys_lin"][:, :t] += da
    return (da.sum(1, keepdim=True) - u.sum(1)) * v  # Σ_i da_i v (1 − u_i²)


def _scan_backward(
    grad_h: Tensor, saved: dict[str, Tensor], w_g: Tensor, w_r: Tensor, w_k: Tensor, v: Tensor
) -> dict[str, Tensor]:
    """Backpropagation through the recurrence; ``grad_h`` [B, T, H] = dL/dh_t from outside. A tape
    position's gradient is complete when its step is reached: only later steps read it."""
    steps = grad_h.shape[1]
    grads = {"h": grad_h.clone(), "c": torch.zeros_like(grad_h), "keys": torch.zeros_like(saved["keys"])}
    grads.update(keys_lin=grad_h.new_zeros(grad_h.shape[:2]), gx=torch.empty_like(saved["gates"]))
    grads.update(qx=torch.zeros_like(saved["q"]), w_g=torch.zeros_like(w_g), w_r=torch.zeros_like(w_r))
    grads.update(v=torch.zeros_like(v), work=saved["keys"].new_empty(saved["keys"].numel()))
    dhs_next = torch.zeros_like(grad_h[:, 0])  # dL/dh̃_t through q_{t+1}
    for t in reversed(range(steps)):
        d_key = torch.addcmul(grads["keys"][:, t], grads["keys_lin"][:, t, None], v)
        dh = torch.addmm(grads["h"][:, t], d_key, w_k)
        dhs, dcs = _step_back(t, dh, saved, grads, w_g)
        dhs = dhs + dhs_next
        if t == 0:
            break
        dq = _attention_back(t, dhs, dcs, saved, grads, v)
        grads["qx"][t] = dq
        grads["w_r"].addmm_(dq.t(), saved["hs"][t - 1])
        dhs_next = dq @ w_r
    d_keys = torch.addcmul(grads["keys"], grads["keys_lin"][..., None], v)
    grads["w_k"] = d_keys.reshape(-1, w_k.shape[0]).t() @ saved["h"].reshape(-1, w_k.shape[1])
    return grads


class LSTMNScan(torch.autograd.Function):
    """One direction of one LSTMN layer over a padded batch: (gx [B, T, 4H], qx [B, T, A], w_g, w_r,
    w_k, v) → (states [B, T, H], weights [B, T, T]); the weights carry no gradient."""

    @staticmethod
    def forward(
        ctx: Any, gx: Tensor, qx: Tensor, w_g: Tensor, w_r: Tensor, w_k: Tensor, v: Tensor
    ) -> tuple[Tensor, Tensor]:
        # the recurrence in the inputs' dtype (float32 from LSTMNDirection), never re-cast by autocast
        with torch.no_grad(), torch.autocast(gx.device.type, enabled=False):
            saved = _scan_forward(gx.transpose(0, 1).contiguous(), qx.transpose(0, 1).contiguous(), w_g, w_r, w_k, v)
        ctx.names = sorted(saved)
        ctx.save_for_backward(*(saved[n] for n in ctx.names), w_g, w_r, w_k, v)
        ctx.mark_non_differentiable(saved["s"])
        return saved["h"], saved["s"]

    @staticmethod
    def backward(ctx: Any, grad_states: Tensor, grad_weights: Tensor | None) -> tuple[Tensor, ...]:
        *tensors, w_g, w_r, w_k, v = ctx.saved_tensors
        saved = dict(zip(ctx.names, tensors, strict=True))
        with torch.no_grad(), torch.autocast(grad_states.device.type, enabled=False):
            g = _scan_backward(grad_states.contiguous(), saved, w_g, w_r, w_k, v)
        return g["gx"].transpose(0, 1), g["qx"].transpose(0, 1), g["w_g"], g["w_r"], g["w_k"], g["v"]


class LSTMNDirection(nn.Module):
    """The parameters of one direction of one layer, initialised as PyTorch's LSTM is (U(±1/√H))."""

    def __init__(self, input_size: int, hidden_size: int, attention_size: int) -> None:
        super().__init__()
        self.gates_x = nn.Linear(input_size, 4 * hidden_size)  # W (x part) and b; gate order i, f, o, ĉ
        self.score_x = nn.Linear(input_size, attention_size, bias=False)  # W_x of the score
        self.gates_h = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # W (h̃ part)
        self.score_summary = nn.Parameter(torch.empty(attention_size, hidden_size))  # W_h̃
        self.score_tape = nn.Parameter(torch.empty(attention_size, hidden_size))  # W_h
        self.v = nn.Parameter(torch.empty(attention_size))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` [B, T, E] → states [B, T, H], weights [B, T, T] (row t: over positions < t)."""
        # the recurrence runs in the parameters' dtype (under autocast the projections may come back bf16)
        dtype = self.v.dtype
        gx, qx = self.gates_x(x).to(dtype), self.score_x(x).to(dtype)
        states, weights = LSTMNScan.apply(gx, qx, self.gates_h, self.score_summary, self.score_tape, self.v)
        return states, weights


class LSTMNEncoder(nn.Module):
    """Cheng et al.'s LSTMN (module docstring), one direction or two, layers stacked.

    The backward direction reads each sequence reversed within its own length (as
    :class:`~attnbench.models.encoders.BiLSTMEncoder` does), so padding is never on a tape a valid
    position reads, and valid outputs are bitwise those of the unpadded sequence. ``final``: the forward
    state at the last token (and the backward state at the first); ``weights``: [B, layers × directions,
    T, T] (:class:`~attnbench.models.encoder_base.EncoderOutput`). Output dimension: ``hidden_size``
    × directions. ``options``: the keys of :class:`~attnbench.config.schema.LSTMNConfig`.
    """

    returns_weights = True  # read by capture_encoder_weights

    def __init__(self, input_size: int, **options: Any) -> None:
        super().__init__()
        o = LSTMNConfig(**options)  # the schema's keys and defaults
        if o.hidden_size < 1 or o.num_layers < 1 or (o.attention_size is not None and o.attention_size < 1):
            raise ValueError("encoder (lstmn): hidden_size, num_layers and attention_size must be >= 1")
        self.hidden_size, self.dropout, self.bidirectional = o.hidden_size, o.dropout, o.bidirectional
        self.directions = directions = 2 if o.bidirectional else 1
        attention_size = o.attention_size or o.hidden_size
        self.num_layers = o.num_layers
        # layer n, direction d (0 forward, 1 backward) is cells[n * directions + d]
        self.cells = nn.ModuleList(
            LSTMNDirection(input_size if n == 0 else directions * o.hidden_size, o.hidden_size, attention_size)
            for n in range(o.num_layers)
            for _ in range(directions)
        )
        self.output_size: int = directions * o.hidden_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> EncoderOutput:
        all_weights: list[Tensor] = []
        for n in range(self.num_layers):
            if n > 0 and self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            fwd, w_fwd = self.cells[n * self.directions](x)
            outputs = [fwd]
            all_weights.append(w_fwd)
            if self.bidirectional:
                bwd, w_bwd = self.cells[n * self.directions + 1](reverse_within_length(x, lengths))
                outputs.append(reverse_within_length(bwd, lengths))
                all_weights.append(w_bwd)  # in the backward reading order (see EncoderOutput)
            x = torch.cat(outputs, dim=-1)
        keep = mask.to(x.dtype)
        states = x * keep[..., None]
        weights = torch.stack(all_weights, 1) * (keep[:, None, :, None] * keep[:, None, None, :])
        h = self.hidden_size
        final = last_valid(states[..., :h], lengths)
        if self.bidirectional:
            final = torch.cat([final, states[:, 0, h:]], dim=-1)
        return EncoderOutput(states, final, weights)
