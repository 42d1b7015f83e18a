"""Sequence encoders. Each maps embeddings [B, T, E] + lengths [B] to an :class:`EncoderOutput`.

Outputs at valid positions never depend on how much padding follows them: padded positions are
zeroed, and every computation at a valid position reads valid positions only.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnbench.config.schema import BiLSTMConfig, Conv1DConfig, GRUConfig, TokenMLPConfig
from attnbench.models.encoder_base import (
    EncoderOutput,
    capture_encoder_weights,
    last_valid,
    masked_mean,
    reverse_within_length,
)
from attnbench.models.lstmn import LSTMNEncoder
from attnbench.models.transformer import TransformerEncoder

# importers of this module find the shared helpers here too
__all__ = [
    "ENCODERS", "BiGRUEncoder", "BiLSTMEncoder", "Conv1DEncoder", "EncoderOutput", "LSTMNEncoder",
    "TokenMLPEncoder", "TransformerEncoder", "build_encoder", "capture_encoder_weights", "last_valid",
    "masked_mean", "reverse_within_length",
]  # fmt: skip


# cuDNN warns on every call that one direction's weights (a view into the bidirectional LSTM's flat
# buffer) are not one contiguous chunk; the copy it makes is included in the measured speed above.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM, exact under any padding.

    The parameters are those of one ``nn.LSTM(bidirectional=True)``, run one of two ways:

    * ``packed``: ``pack_padded_sequence`` through the module;
    * ``reverse``: per layer, the forward direction runs on the dense padded batch (a valid position
      only reads earlier positions), and the backward direction runs forward over each sequence
      reversed within its own length, then is flipped back. Both use the dense fast path.
    * ``auto``: ``reverse``, the fastest exact path measured on both devices
      (``benchmarks/bilstm_padding.py``): 2.3-6.7x faster than ``packed`` on 2 CPU cores and 5-8x on
      an H100 with cuDNN (``benchmarks/GPU_CHECKS.md``).

    ``final`` is the forward state at the last token concatenated with the backward state at the first.
    Output dimension: ``2 * hidden_size``. ``options``: the keys of
    :class:`~attnbench.config.schema.BiLSTMConfig`, each defaulting to the schema's value.
    """

    rnn_class: type[nn.LSTM] | type[nn.GRU] = nn.LSTM
    rnn_name = "lstm"  # the module's attribute: its parameter names in checkpoints (encoder.lstm.*)
    config_class: type[BiLSTMConfig] | type[GRUConfig] = BiLSTMConfig

    def __init__(self, input_size: int, **options: Any) -> None:
        super().__init__()
        o = self.config_class(**options)  # the schema's keys and defaults
        if o.implementation not in ("auto", "packed", "reverse"):
            raise ValueError(f"encoder.implementation={o.implementation!r}; use auto, packed or reverse")
        self.hidden_size, self.num_layers, self.implementation = o.hidden_size, o.num_layers, o.implementation
        self.dropout = o.dropout
        rnn = self.rnn_class(
            input_size, o.hidden_size, o.num_layers, batch_first=True, bidirectional=True,
            dropout=o.dropout if o.num_layers > 1 else 0.0,
        )  # fmt: skip
        self.add_module(self.rnn_name, rnn)
        self.output_size: int = 2 * o.hidden_size

    def _mode(self, device: torch.device) -> str:
        if self.implementation != "auto":
            return self.implementation
        return "reverse"

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> EncoderOutput:
        states = self._packed(x, lengths) if self._mode(x.device) == "packed" else self._reverse(x, lengths)
        states = states * mask[..., None].to(states.dtype)
        h = self.hidden_size
        final = torch.cat([last_valid(states[..., :h], lengths), states[:, 0, h:]], dim=-1)
        return EncoderOutput(states, final)

    def _packed(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return states

    @property
    def rnn(self) -> nn.LSTM | nn.GRU:
        rnn: nn.LSTM | nn.GRU = getattr(self, self.rnn_name)
        return rnn

    def _params(self, layer: int, suffix: str) -> list[Tensor]:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [getattr(self.rnn, f"{name}_l{layer}{suffix}") for name in names]

    def _direction(self, x: Tensor, layer: int, suffix: str) -> Tensor:
        zeros = x.new_zeros(1, x.shape[0], self.hidden_size)
        params = self._params(layer, suffix)
        out, _, _ = torch.lstm(x, (zeros, zeros), params, True, 1, 0.0, self.training, False, True)
        return out

    def _reverse(self, x: Tensor, lengths: Tensor) -> Tensor:
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            fwd = self._direction(x, layer, "")
            bwd = reverse_within_length(self._direction(reverse_within_length(x, lengths), layer, "_reverse"), lengths)
            x = torch.cat([fwd, bwd], dim=-1)
        return x


class BiGRUEncoder(BiLSTMEncoder):
    """Bidirectional GRU, the BiLSTM's ways and guarantees (exact under padding; ``implementation``
    auto = reverse-within-length on the dense fast path). ``final``: the forward state at the last token
    concatenated with the backward state at the first. Output dimension: ``2 * hidden_size``.
    ``options``: the keys of :class:`~attnbench.config.schema.GRUConfig`."""

    rnn_class = nn.GRU
    rnn_name = "gru"
    config_class = GRUConfig

    def _direction(self, x: Tensor, layer: int, suffix: str) -> Tensor:
        zeros = x.new_zeros(1, x.shape[0], self.hidden_size)
        out, _ = torch.gru(x, zeros, self._params(layer, suffix), True, 1, 0.0, self.training, False, True)
        return out


class Conv1DEncoder(nn.Module):
    """Keras-style ``Conv1D(filters, kernel_size, padding='same')`` stack, masked.

    'same' pads ``(k - 1) // 2`` zeros on the left and the rest on the right, as Keras does. Inputs
    and outputs are zeroed at padding positions, so a valid position sees exactly the zeros 'same'
    padding would give it, however much padding the batch has. ``final`` is the state at the last
    valid position. Output dimension: ``filters``. ``options``: the keys of
    :class:`~attnbench.config.schema.Conv1DConfig`, each defaulting to the schema's value.
    """

    def __init__(self, input_size: int, **options: Any) -> None:
        super().__init__()
        o = Conv1DConfig(**options)  # the schema's keys and defaults
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "linear": nn.Identity}
        if o.activation not in acts:
            raise ValueError(f"encoder.activation={o.activation!r}; use one of {sorted(acts)}")
        filters, kernel_size, activation = o.filters, o.kernel_size, o.activation
        self.pad = ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2)
        self.convs = nn.ModuleList(
            nn.Conv1d(input_size if i == 0 else filters, filters, kernel_size) for i in range(o.num_layers)
        )
        self.act = acts[activation]()
        self.dropout = nn.Dropout(o.dropout)
        self.output_size: int = filters

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> EncoderOutput:
        keep = mask[:, None, :].to(x.dtype)  # [B, 1, T]
        h = x.transpose(1, 2) * keep
        for i, conv in enumerate(self.convs):
            if i > 0:
                h = self.dropout(h)
            h = self.act(conv(nn.functional.pad(h, self.pad))) * keep
        states = h.transpose(1, 2).contiguous()  # sums over T then round the same for any padding
        return EncoderOutput(states, last_valid(states, lengths))


class TokenMLPEncoder(nn.Module):
    """Wiegreffe & Pinter 2019's non-contextual diagnostic (§3.3): each token's embedding through the
    same ``Linear → tanh``, no token sees another, so attention over its states weighs the tokens
    themselves. ``final``: the state at the last valid token. Output dimension: ``hidden_size``."""

    def __init__(self, input_size: int, hidden_size: int = TokenMLPConfig.hidden_size) -> None:
        super().__init__()
        self.layer = nn.Linear(input_size, hidden_size)
        self.output_size = hidden_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> EncoderOutput:
        states = torch.tanh(self.layer(x)) * mask[..., None].to(x.dtype)
        return EncoderOutput(states, last_valid(states, lengths))


Encoder = BiLSTMEncoder | BiGRUEncoder | Conv1DEncoder | TokenMLPEncoder | LSTMNEncoder | TransformerEncoder
ENCODERS: dict[str, type[Encoder]] = {
    "bilstm": BiLSTMEncoder,
    "gru": BiGRUEncoder,
    "conv1d": Conv1DEncoder,
    "token_mlp": TokenMLPEncoder,
    "lstmn": LSTMNEncoder,
    "transformer": TransformerEncoder,
}


def build_encoder(spec: dict, input_size: int) -> Encoder:
    """Build an encoder from its config (``name`` + constructor arguments)."""
    spec = dict(spec)
    name = spec.pop("name")
    if name not in ENCODERS:
        raise ValueError(f"encoder.name={name!r} is unknown; available: {sorted(ENCODERS)}")
    return ENCODERS[name](input_size=input_size, **spec)
