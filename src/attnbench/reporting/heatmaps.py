"""The attention heatmaps of a study's best run, drawn afresh from its checkpoint."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from attnbench.reporting.records import Record, is_tfidf, lookup

log = logging.getLogger(__name__)


# encoders that attend while they read: their runs have a picture even with attention=none (config names,
# not the classes: a report loads no torch until it draws)
ATTENDING_ENCODERS = ("lstmn",)


def best_heatmaps(
    records: list[Record],
    metric: str,
    out: Path,
    column_key: str | None = None,
    num_examples: int = 3,
    encoder: str | None = None,
    dirname: str = "heatmaps",
) -> tuple[Path | None, Record | None]:
    """The attention heatmaps of the best completed attention run (by ``metric``; among equal ones, the
    one with the largest numeric ``column_key`` value, e.g. the longest sequences) in ``out/<dirname>``.
    ``encoder``: only runs of that encoder (``lstmn``: the best LSTMN run's memory pictures).

    They are drawn afresh from the run's best checkpoint (the first ``num_examples`` test examples,
    windows around the largest weights); a run whose checkpoint is gone gives the PNGs its
    ``attention_heatmaps`` callback wrote, if any."""

    target = out / dirname
    for r in attention_runs(records, metric, column_key, encoder):
        checkpoint = r.get("checkpoint")
        try:
            if checkpoint and Path(checkpoint).is_file():
                paths = draw_heatmaps(r, Path(checkpoint), target, num_examples)
            else:
                pngs = sorted((Path(r["_path"]).parent / "attention_heatmaps").glob("*.png"))[:num_examples]
                target.mkdir(parents=True, exist_ok=True)
                paths = [Path(shutil.copy2(p, target / p.name)) for p in pngs]
        except Exception as err:  # a run this code cannot rebuild: try the next best
            log.warning("heatmaps of %s failed (%s: %s)", r["_path"], type(err).__name__, err)
            continue
        if paths:
            return target, r
    return None, None


def attention_runs(
    records: list[Record], metric: str, column_key: str | None = None, encoder: str | None = None
) -> list[Record]:
    """The completed attention runs with ``metric`` (an LSTMN attends inside; ``encoder``: only runs of that
    encoder), best first (among equal ones, the one with the largest numeric ``column_key`` value, e.g. the
    longest sequences)."""

    def rank(r: Record) -> tuple[float, float]:
        col = lookup(r, column_key) if column_key else None
        return (float(lookup(r, metric)), float(col) if isinstance(col, int | float) else 0.0)

    def has_attention(r: Record) -> bool:
        config = r.get("config") or {}
        name = (config.get("encoder") or {}).get("name")
        if is_tfidf(config) or (encoder is not None and name != encoder):
            return False
        return (config.get("attention") or {}).get("name") not in (None, "none") or name in ATTENDING_ENCODERS

    candidates = [
        r for r in records if r.get("status") == "completed" and lookup(r, metric) is not None and has_attention(r)
    ]
    return sorted(candidates, key=rank, reverse=True)


def rebuild_run(record: Record, checkpoint: Path) -> tuple[Any, Any]:
    """A run's task (weights of ``checkpoint``, eval mode) and its data module set up for ``test``, from
    the run's resolved config."""
    # the training stack (torch, Lightning, the data modules) loads only when a heatmap is drawn: a report
    # without heatmaps, or of runs without attention, starts in a second
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from attnbench.config.hashing import current_config
    from attnbench.runtime.checkpoints import load_checkpoint, load_weights, restore_data_state

    cfg = OmegaConf.create(current_config(record["config"]))  # a run recorded by an earlier version too
    state = load_checkpoint(checkpoint)
    dm = instantiate(cfg.data)
    restore_data_state(dm, state)
    # the data summary and cache lines were logged by the run already: keep the report's output short
    quiet = [logging.getLogger(n) for n in ("pytorch_lightning.utilities.rank_zero", "attnbench.data")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.WARNING)
        dm.setup("test")
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    model = instantiate(cfg.model, **dm.task_kwargs())
    load_weights(model, state, str(checkpoint))
    model.eval()
    return model, dm


def draw_heatmaps(record: Record, checkpoint: Path, out_dir: Path, num_examples: int) -> list[Path]:
    """Rebuild a run's data and model from its resolved config and checkpoint; draw its first test batch."""
    # the training stack loads only when a heatmap is drawn (see rebuild_run)
    from attnbench.runtime.alignment_heatmaps import AlignmentHeatmaps
    from attnbench.runtime.callbacks import AttentionHeatmaps

    model, dm = rebuild_run(record, checkpoint)
    batch = next(iter(dm.test_dataloader()))
    # a seq2seq task draws source × output alignments; a classifier, texts shaded by weight
    seq2seq = hasattr(model, "decode_with_weights")
    drawer = AlignmentHeatmaps(num_examples=num_examples) if seq2seq else AttentionHeatmaps(num_examples=num_examples)
    paths, _ = drawer.draw_batch(model, batch, dm, out_dir)
    return paths
