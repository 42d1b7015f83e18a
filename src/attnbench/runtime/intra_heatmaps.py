"""The picture of an encoder that attends while it reads (LSTMN, Cheng et al. 2016, their Figure 1): one
row per token as it is read, shaded over the tokens read before it (a lower-triangular heatmap, the tokens
on both axes). :class:`~attnbench.runtime.callbacks.AttentionHeatmaps` draws it for every weight block an
encoder returns (layer × direction)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from attnbench.runtime.record import atomic_path

DIRECTIONS = ("forward", "backward")


def block_name(block: int, directions: int) -> str:
    """``layer 1, forward`` for weight block ``block`` (layer-major) of an encoder with ``directions``."""
    layer, direction = divmod(block, directions)
    return f"layer {layer + 1}, {DIRECTIONS[direction]}"


def window(weights: list[list[float]], max_tokens: int) -> int:
    """Where a window of ``max_tokens`` rows and columns starts: around the token the later tokens
    attend to most (the largest column sum), so a long text shows where its memory is used."""
    n = len(weights)
    if n <= max_tokens:
        return 0
    received = [sum(row[j] for row in weights) for j in range(n)]
    peak = max(range(n), key=received.__getitem__)
    return min(max(0, peak - max_tokens // 4), n - max_tokens)


def draw_intra_attention(
    tokens: list[str], weights: list[list[float]], title: str, path: Path, max_tokens: int
) -> None:
    """Save the heatmap of ``weights`` [n][n] (row t: the weights token t gave tokens < t; each row
    shaded relative to its largest weight) with ``tokens`` [n] on both axes, in reading order; at most
    ``max_tokens`` of them (a window, noted in the title)."""
    # Figure + Agg canvas directly: no pyplot, so no global backend state and no GUI; imported here so
    # matplotlib loads only when a picture is drawn (a run without the callback starts without it)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    start = window(weights, max_tokens)
    n = min(len(tokens), max_tokens)
    if n < len(tokens):
        title += f" (tokens {start + 1}-{start + n} of {len(tokens)})"
    # each row scaled by its largest weight (as the text pictures shade): a row over many earlier
    # tokens has small weights, and one scale for all would leave all but the first rows blank
    shown = [[w / (max(row) or 1.0) for w in row] for row in (r[start : start + n] for r in weights[start : start + n])]
    labels = tokens[start : start + n]
    side = min(12.0, 2.5 + 0.18 * n)
    fig = Figure(figsize=(side + 1.0, side))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Reds", vmin=0.0, vmax=1.0)
    font = max(4.0, min(9.0, 400.0 / max(n, 1)))
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_xlabel("memory: the tokens read before")
    ax.set_ylabel("the token being read")
    ax.set_title(textwrap.fill(title, width=int(11 * side)), fontsize=9, loc="left")
    fig.colorbar(image, ax=ax, fraction=0.04, label="weight ÷ the row's largest")
    fig.tight_layout()
    with atomic_path(path) as tmp:  # a report may copy these PNGs: never a partial one
        fig.savefig(tmp, dpi=100)
