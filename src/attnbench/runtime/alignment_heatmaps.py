"""The alignment matrix of a sequence-to-sequence model: source tokens across, output tokens down,
each cell the attention weight the decoder gave that source token when it emitted that output token
(Bahdanau et al. 2015, Fig. 3). :class:`AlignmentHeatmaps` draws them at test time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from attnbench.config.runtime import AlignmentHeatmapsConfig
from attnbench.runtime.callbacks import AttentionHeatmaps
from attnbench.tasks.seq2seq import Seq2SeqTask


def draw_alignment(source: list[str], output: list[str], weights: list[list[float]], title: str, path: Path) -> None:
    """One PNG: ``weights`` ``[len(output)][len(source)]`` as a grey-scale matrix (white 0, black 1)."""
    cell = 0.32
    fig = Figure(figsize=(1.5 + cell * max(len(source), 4), 1.2 + cell * max(len(output), 2)))
    FigureCanvasAgg(fig)  # Figure + Agg directly: no pyplot, no global backend state
    ax = fig.add_subplot()
    ax.imshow(weights or [[0.0]], cmap="gray_r", vmin=0.0, vmax=1.0, aspect="equal")
    ax.set_xticks(range(len(source)), [_shown(t) for t in source], rotation=90, fontsize=8)
    ax.set_yticks(range(len(output)), [_shown(t) for t in output], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _shown(token: str) -> str:
    return "␣" if token == " " else token


class AlignmentHeatmaps(AttentionHeatmaps):
    """At test time, rank 0 greedily decodes the first ``num_examples`` pairs of its first test batch
    and saves ``<run_dir>/<dirname>/test<index>.png`` each (also W&B images under
    ``test/attention_heatmaps``), as :class:`~attnbench.runtime.callbacks.AttentionHeatmaps` does for a
    classifier. Needs a task with ``decode_with_weights(batch)`` and ``vocab`` and a data module with
    ``source_vocab``; models without attention draw nothing."""

    def __init__(
        self,
        num_examples: int = AlignmentHeatmapsConfig.num_examples,
        dirname: str = AlignmentHeatmapsConfig.dirname,
    ) -> None:
        super().__init__(num_examples=num_examples, dirname=dirname)

    def draw_batch(
        self, pl_module: pl.LightningModule, batch: Any, datamodule: Any, out_dir: Path
    ) -> tuple[list[Path], list[str]]:
        """Greedily decode the first ``num_examples`` pairs of ``batch`` and draw them into ``out_dir``;
        the PNG paths and their captions (none for a model without attention)."""
        if not isinstance(pl_module, Seq2SeqTask):
            raise TypeError(f"AlignmentHeatmaps needs a sequence-to-sequence task, not {type(pl_module).__name__}")
        with torch.no_grad():
            decoded = pl_module.decode_with_weights(batch)
        if decoded.weights is None:
            return [], []
        source_vocab, target_vocab = datamodule.source_vocab, pl_module.vocab
        paths, captions = [], []
        for i in range(min(self.num_examples, len(batch))):
            n, k = int(batch.source_lengths[i]), int(decoded.lengths[i])
            source = [source_vocab.tokens[t] for t in batch.source[i, :n].tolist()]
            output = target_vocab.decode(decoded.tokens[i, :k].tolist())
            reference = target_vocab.join(target_vocab.decode(batch.target_out[i].tolist()))
            title = f"test pair {int(batch.index[i])}: reference {reference[:60]!r}"
            path = out_dir / f"test{int(batch.index[i])}.png"
            draw_alignment(source, output, decoded.weights[i, :k, :n].float().cpu().tolist(), title, path)
            paths.append(path)
            captions.append(title)
        return paths, captions
