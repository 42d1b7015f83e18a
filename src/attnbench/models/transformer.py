"""A small Transformer encoder: pre-LayerNorm ``nn.TransformerEncoder`` layers with a padding mask."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from attnbench.config.schema import TransformerConfig
from attnbench.models.encoder_base import EncoderOutput, masked_mean


def sinusoidal_positions(length: int, size: int, device: torch.device | None = None) -> Tensor:
    """Vaswani et al.'s fixed positions [length, size]: sin on even dimensions, cos on odd ones."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    rate = torch.exp(torch.arange(0, size, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : size // 2]
    return table


class TransformerEncoder(nn.Module):
    """Embeddings (projected to ``hidden_size`` when their size differs) plus positions, then
    ``num_layers`` pre-LayerNorm layers (``norm_first``, a final LayerNorm), padding keys masked.

    No [CLS] token: the states go to the configured pooling or attention; ``final`` (pooling=last,
    attention.query=last, the seq2seq bridge) is the mean of the valid states, the summary a
    Transformer has. Padding never reaches a valid position (masked keys get weight exactly 0), so
    valid outputs equal the unpadded ones to float precision (sums over more keys block differently).
    Output dimension: ``hidden_size``. ``options``: the keys of :class:`~attnbench.config.schema.TransformerConfig`.
    """

    def __init__(self, input_size: int, **options: Any) -> None:
        super().__init__()
        o = TransformerConfig(**options)  # the schema's keys and defaults
        if o.positions not in ("sinusoidal", "learned"):
            raise ValueError(f"encoder.positions={o.positions!r}; use sinusoidal or learned")
        if o.hidden_size % o.num_heads:
            raise ValueError(
                f"encoder.hidden_size={o.hidden_size} must be a multiple of encoder.num_heads={o.num_heads}"
            )
        if o.positions == "learned" and not isinstance(o.max_positions, int):
            raise ValueError(
                "encoder.max_positions must be an int (the longest sequence) with encoder.positions=learned"
            )
        self.positions, self.hidden_size = o.positions, o.hidden_size
        self.project = nn.Identity() if input_size == o.hidden_size else nn.Linear(input_size, o.hidden_size)
        self.position_table = nn.Embedding(o.max_positions, o.hidden_size) if o.positions == "learned" else None
        self.dropout = nn.Dropout(o.dropout)
        layer = nn.TransformerEncoderLayer(
            o.hidden_size, o.num_heads, o.ff_size, o.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # enable_nested_tensor=False: the dense path, so eval and training compute the same function
        self.layers = nn.TransformerEncoder(
            layer, o.num_layers, norm=nn.LayerNorm(o.hidden_size), enable_nested_tensor=False
        )
        self.output_size: int = o.hidden_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> EncoderOutput:
        width = x.shape[1]
        x = self.project(x)
        if self.position_table is not None:
            if width > self.position_table.num_embeddings:
                raise ValueError(
                    f"a batch of {width} positions but encoder.max_positions={self.position_table.num_embeddings}; "
                    "raise encoder.max_positions (it follows data.max_length by default)"
                )
            x = x + self.position_table.weight[:width]
        else:
            x = x + sinusoidal_positions(width, self.hidden_size, x.device).to(x.dtype)
        states = self.layers(self.dropout(x), src_key_padding_mask=~mask)
        states = states * mask[..., None].to(states.dtype)
        return EncoderOutput(states, masked_mean(states, mask))
