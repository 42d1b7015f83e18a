"""Callbacks of our own. :class:`AttentionHeatmaps`: pictures of where a model attends, at test time;
:class:`RichProgressBar`: Lightning's, updated at most every ``min_interval_s`` while training;
:class:`ResumeRandomState`: a resumed fit draws the random numbers an uninterrupted one would."""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import RichProgressBar as LightningRichProgressBar
from pytorch_lightning.loggers import WandbLogger

from attnbench.config.runtime import AttentionHeatmapsConfig, RichProgressBarConfig
from attnbench.models.encoder_base import IntraAttention, capture_encoder_weights
from attnbench.runtime.intra_heatmaps import block_name, draw_intra_attention
from attnbench.runtime.record import atomic_path

log = logging.getLogger(__name__)


def rng_states() -> dict[str, Any]:
    """The random states of torch (CPU and CUDA), NumPy and Python, as types ``weights_only`` loads."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(gauss)],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


class ResumeRandomState(pl.Callback):
    """Every checkpoint holds the random states at the end of its epoch; a fit resumed from it sets them
    back at the start of its first epoch, where the uninterrupted fit goes on from those same states
    (the sanity check and the loading in between draw numbers too). So dropout masks and shuffles
    match and a CPU run gives the same metrics whether or not it was interrupted."""

    def __init__(self) -> None:
        self._restore: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return rng_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restore = state_dict or None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._restore is not None:
            set_rng_states(self._restore)
            self._restore = None


class AttentionHeatmaps(pl.Callback):
    """At test time, for the first ``num_examples`` examples of rank 0's first test batch, save one PNG
    per example and weight row (hop or head): the text with each token shaded by its attention weight
    (darkest = the row's largest weight), the classic "machine reading" figure.

    A text longer than ``max_tokens`` is drawn as the window of ``max_tokens`` tokens around its
    largest weight. Files: ``<run_dir>/<dirname>/test<index>_row<r>.png`` (``index``: the example's position in the
    test split). With a W&B logger they are also logged as images under ``test/attention_heatmaps``.
    An encoder that attends while it reads (``encoder=lstmn``) adds, per example, its memory picture
    (:mod:`attnbench.runtime.intra_heatmaps`): ``test<index>_intra<r>.png`` per layer and direction,
    at most ``intra_max_tokens`` tokens per axis. Models without any weights (``attention=none`` on an
    encoder without intra-attention) produce nothing. ``max_tokens``: tokens drawn per picture (the
    window is noted in the title); ``line_chars``: characters per text line.
    """

    def __init__(
        self,
        num_examples: int = AttentionHeatmapsConfig.num_examples,
        max_tokens: int = AttentionHeatmapsConfig.max_tokens,
        line_chars: int = AttentionHeatmapsConfig.line_chars,
        dirname: str = AttentionHeatmapsConfig.dirname,
        intra_max_tokens: int = AttentionHeatmapsConfig.intra_max_tokens,
    ) -> None:
        super().__init__()
        if num_examples < 0 or max_tokens < 1 or line_chars < 10:
            raise ValueError("callbacks.attention_heatmaps: num_examples >= 0, max_tokens >= 1, line_chars >= 10")
        self.num_examples, self.max_tokens = num_examples, max_tokens
        self.line_chars, self.dirname = line_chars, dirname
        self.intra_max_tokens = intra_max_tokens
        self.paths: list[Path] = []

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.paths = []

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or not trainer.is_global_zero or self.num_examples == 0:
            return
        paths, captions = self.draw_batch(
            pl_module, batch, getattr(trainer, "datamodule", None), Path(trainer.default_root_dir) / self.dirname
        )
        self.paths += paths
        if not paths:
            return
        for lg in trainer.loggers:
            if isinstance(lg, WandbLogger):
                lg.log_image(key="test/attention_heatmaps", images=[str(p) for p in paths], caption=captions)
        log.info("attention heatmaps: %d PNGs in %s", len(paths), paths[0].parent)

    def draw_batch(
        self, pl_module: pl.LightningModule, batch: Any, datamodule: Any, out_dir: Path
    ) -> tuple[list[Path], list[str]]:
        """Draw the first ``num_examples`` examples of ``batch`` (eval mode: hard attention is argmax)
        into ``out_dir``: the text shaded by each attention row, and for an encoder that attends while
        it reads (LSTMN) its lower-triangular intra-attention per layer and direction. Returns the PNG
        paths and their captions (none for models without weights)."""
        run_batch: Any = pl_module.run_batch  # a task of tasks/: every one has it
        with torch.no_grad(), capture_encoder_weights(pl_module) as intra:
            out = run_batch(batch)
        if out.weights is None and not intra:
            return [], []
        tokenizer = getattr(datamodule, "tokenizer", None)
        label_names = list(getattr(datamodule, "label_names", []) or [])
        out_dir.mkdir(parents=True, exist_ok=True)
        predictions = out.logits.argmax(-1)
        paths: list[Path] = []
        captions: list[str] = []
        for i in range(min(self.num_examples, len(batch))):
            label, pred = int(batch.labels[i]), int(predictions[i])
            name = label_names[label] if label < len(label_names) else str(label)
            guess = label_names[pred] if pred < len(label_names) else str(pred)
            verdict = f"label {name}, predicted {guess}"
            if out.weights is not None:
                self._draw_rows(out, batch, i, tokenizer, verdict, out_dir, paths, captions)
            if intra:  # the first text's encoder (a pair: intra[1] is the second text's)
                self._draw_intra(intra[0], batch, i, tokenizer, verdict, out_dir, paths, captions)
        return paths, captions

    def _draw_rows(
        self, out: Any, batch: Any, i: int, tokenizer: Any, verdict: str, out_dir: Path, paths: list, captions: list
    ) -> None:
        """Example ``i``'s text shaded by each weight row of the model's attention."""
        over_pair = out.weights_over == "pair_ids"
        ids_all, lengths_all = (batch.pair_ids, batch.pair_lengths) if over_pair else (batch.ids, batch.lengths)
        n = int(lengths_all[i])
        tokens = [_token(tokenizer, t) for t in ids_all[i, :n].tolist()]
        query = ""
        if over_pair:  # attention over the second text: say what the first one asks
            first = " ".join(_token(tokenizer, t) for t in batch.ids[i, : int(batch.lengths[i])].tolist())
            query = f", query: {first[:60]}{'...' if len(first) > 60 else ''}"
        for r in range(out.weights.shape[1]):
            weights = out.weights[i, r, :n].float().cpu().tolist()
            title = f"test example {int(batch.index[i])}, row {r}{query}: {verdict}"
            path = out_dir / f"test{int(batch.index[i])}_row{r}.png"
            self._draw(tokens, weights, title, path)
            paths.append(path)
            captions.append(title)

    def _draw_intra(
        self,
        intra: IntraAttention,
        batch: Any,
        i: int,
        tokenizer: Any,
        verdict: str,
        out_dir: Path,
        paths: list,
        captions: list,
    ) -> None:
        """Example ``i``'s intra-attention ``weights`` [B, R, T, T]: one lower-triangular picture per
        block (layer × direction), tokens in that direction's reading order."""
        n = int(batch.lengths[i])
        tokens = [_token(tokenizer, t) for t in batch.ids[i, :n].tolist()]
        weights = intra.weights[i, :, :n, :n].float().cpu()
        for r in range(weights.shape[0]):
            name = block_name(r, intra.directions)
            reading = tokens if name.endswith("forward") else tokens[::-1]
            title = f"test example {int(batch.index[i])}, LSTMN memory ({name}): {verdict}"
            path = out_dir / f"test{int(batch.index[i])}_intra{r}.png"
            draw_intra_attention(reading, weights[r].tolist(), title, path, self.intra_max_tokens)
            paths.append(path)
            captions.append(title)

    def _draw(self, tokens: list[str], weights: list[float], title: str, path: Path) -> None:
        # Figure + Agg canvas directly: no pyplot, so no global backend state and no GUI.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # a long text: the window of max_tokens tokens around the largest weight (where the model looks)
        start = 0
        if len(tokens) > self.max_tokens:
            peak = max(range(len(weights)), key=weights.__getitem__)
            start = min(max(0, peak - self.max_tokens // 2), len(tokens) - self.max_tokens)
            title += f" (tokens {start + 1}-{start + self.max_tokens} of {len(tokens)}, around the largest weight)"
        tokens, weights = tokens[start : start + self.max_tokens], weights[start : start + self.max_tokens]
        shown = len(tokens)
        top = max(weights[:shown], default=0.0) or 1.0
        # monospace layout: a token of k characters takes k + 1 columns; wrap at line_chars
        places, col, line = [], 0, 0
        for token in tokens[:shown]:
            width = min(len(token), self.line_chars)
            if col and col + width > self.line_chars:
                col, line = 0, line + 1
            places.append((col, line, token[:width]))
            col += width + 1
        lines = line + 1
        width_in, font = 10.0, 10.0 * 72 / (0.62 * (self.line_chars + 2))  # monospace: ~0.6 em per char
        fig = Figure(figsize=(width_in, 0.5 + lines * font * 1.9 / 72))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.01, 0.0, 0.98, 1 - 0.4 / fig.get_figheight()))
        ax.set_xlim(-0.5, self.line_chars + 1)
        ax.set_ylim(lines - 0.3, -0.7)
        ax.axis("off")
        ax.set_title(title, fontsize=9, loc="left")
        for (x, y, text), w in zip(places, weights[:shown], strict=True):
            ax.text(
                x,
                y,
                text,
                family="monospace",
                fontsize=font,
                va="center",
                ha="left",
                bbox={"facecolor": (0.85, 0.1, 0.1, min(1.0, w / top)), "edgecolor": "none", "pad": 1.0},
            )
        with atomic_path(path) as tmp:  # a report may copy these PNGs: never a partial one
            fig.savefig(tmp, dpi=100)


def _token(tokenizer: Any, token_id: int) -> str:
    token = tokenizer.id_to_token(token_id) if tokenizer is not None else None
    return token if token is not None else f"#{token_id}"


class RichProgressBar(LightningRichProgressBar):
    """Lightning's rich progress bar, updated at most every ``min_interval_s`` seconds during training
    (and at each epoch's last batch). Lightning's updates it after every batch, a few milliseconds of
    Python each time: nothing on a CPU step of 300 ms, a third of a 10 ms GPU step."""

    def __init__(self, min_interval_s: float = RichProgressBarConfig.min_interval_s, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_interval_s = min_interval_s
        self._last_update = float("-inf")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        last = batch_idx + 1 >= trainer.num_training_batches
        if now - self._last_update < self.min_interval_s and not last:
            return
        self._last_update = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
