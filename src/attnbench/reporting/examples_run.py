"""Highlighted examples of a run, from its checkpoint: a classifier's test texts shaded by attention,
gradient×input, leave-one-out and integrated gradients (:mod:`attnbench.analysis.examples`; a text
pair's by its attention alone, which the analyses do not take yet), or a seq2seq model's source tokens
shaded for each output token beside its alignment heatmap.

:func:`best_examples` is the study report's step (the best attention run, as for the heatmaps);
:func:`run_examples` draws them for any trained model: the report's step and ``attnbench-analyze ... examples=N``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from attnbench.reporting.examples import AlignmentExample, alternate, write_examples
from attnbench.reporting.heatmaps import attention_runs, rebuild_run
from attnbench.reporting.records import Record

log = logging.getLogger(__name__)

PAIR_CELLS = 6000  # source × output tokens shaded on a seq2seq page, at ~150 bytes each
NUM_EXAMPLES = 6  # examples on a study's page: the four τ/correctness corners and two more


# what a page of each kind shows (the study page's caption of its link)
SHOWN = {
    "single": "each token shaded by its attention weight, beside gradient×input, leave-one-out and "
    "integrated gradients",
    "pair": "the text the attention is over shaded by its weight, the other text beside it "
    "(text pairs: attention alone)",
    "seq2seq": "for each output token, the source tokens shaded by the weight it gave them, beside the "
    "alignment heatmap",
}


def best_examples(
    records: list[Record], metric: str, out: Path, column_key: str | None = None, n: int = NUM_EXAMPLES
) -> tuple[Record, str] | None:
    """``out/examples.{html,tex}`` of the best attention run with a checkpoint (by ``metric``, as
    :func:`~attnbench.reporting.heatmaps.best_heatmaps` ranks them); the run and what its page shows
    (:data:`SHOWN`), or None when none could be drawn."""
    for r in attention_runs(records, metric, column_key):
        checkpoint = r.get("checkpoint")
        if not checkpoint or not Path(checkpoint).is_file():
            continue
        try:
            model, dm = rebuild_run(r, Path(checkpoint))
            config = r.get("config") or {}
            run_examples(model, dm, n, out, analysis=config.get("analysis"), seed=int(config.get("seed") or 0))
        except Exception as err:  # a run this code cannot rebuild or analyse: try the next best
            log.warning("examples of %s failed (%s: %s)", r["_path"], type(err).__name__, err)
            continue
        return r, SHOWN[examples_kind(model, dm)]
    return None


def examples_kind(model: Any, dm: Any) -> str:
    """Which page :func:`run_examples` draws for ``model``: ``seq2seq``, ``pair`` or ``single``."""
    if hasattr(model, "decode_with_weights"):
        return "seq2seq"
    return "pair" if dm.datasets["test"].pair_ids is not None else "single"


def run_examples(
    model: Any, dm: Any, n: int, out: Path, analysis: Any = None, seed: int = 0, device: str = "auto"
) -> list[Path]:
    """``out/examples.{html,tex}`` for a trained ``model`` (a classifier with attention, or a seq2seq
    task) over ``dm``'s test split (set up); ``analysis``: the run's analysis config (chunk, ig_steps,
    leave-one-out measure), else the defaults."""
    # torch and the analyses load only when examples are drawn: a report without them starts in a second
    from attnbench.analysis.context import settings_of
    from attnbench.analysis.examples import Vocabulary, write_attention_examples, write_classifier_examples

    kind = examples_kind(model, dm)
    if kind == "seq2seq":
        return seq2seq_examples(model, dm, n, out)
    gold = dm.example_meta.get("test", {}).get("gold")
    vocab = Vocabulary(dm.tokenizer, list(dm.label_names))
    test = dm.datasets["test"]
    if kind == "pair":  # the analyses take single texts: text pairs are shaded by attention alone
        return write_attention_examples(model, test, vocab, n, out, gold=gold, seed=seed, device=device)
    settings = settings_of(analysis, seed)
    return write_classifier_examples(model, test, vocab, n, out, gold=gold, settings=settings, device=device)


def seq2seq_examples(task: Any, dm: Any, n: int, out: Path) -> list[Path]:
    """The first test batch greedily decoded; ``n`` pairs, exact and wrong ones alternately where both
    exist, each with its alignment heatmap embedded in the page."""
    # the training stack loads only here (see run_examples)
    import torch

    from attnbench.runtime.alignment_heatmaps import draw_alignment

    batch = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        decoded = task.decode_with_weights(batch)
    if decoded.weights is None:
        return []
    source_vocab, target_vocab = dm.source_vocab, task.vocab
    pairs = []
    for i in range(len(batch)):
        k, m = int(decoded.lengths[i]), int(batch.source_lengths[i])
        output = target_vocab.decode(decoded.tokens[i, :k].tolist())
        reference = target_vocab.join(target_vocab.decode(batch.target_out[i].tolist()))
        source = [source_vocab.tokens[t] for t in batch.source[i, :m].tolist()]
        weights = decoded.weights[i, :k, :m].float().cpu().tolist()
        exact = target_vocab.join(output) == reference
        pairs.append(AlignmentExample(int(batch.index[i]), source, output, weights, reference, exact))
    # the smallest pairs first: a page shades source × output tokens, so a few long pairs of a long-source
    # task made a multi-megabyte page (4.5 MB for numbers in words)
    pairs.sort(key=lambda e: len(e.source) * len(e.output))
    chosen = alternate(pairs, n)
    while len(chosen) > 1 and sum(len(e.source) * len(e.output) for e in chosen) > PAIR_CELLS:
        chosen.pop()  # under ~1 MB of shaded tokens per page
    with tempfile.TemporaryDirectory() as tmp:  # the PNGs live only until the page embeds them
        for e in chosen:
            e.heatmap = Path(tmp) / f"test{e.index}.png"
            draw_alignment(e.source, e.output, e.weights, f"test pair {e.index}", e.heatmap)
        note = "Each row: an output token, and the source tokens shaded by the weight it gave them."
        return write_examples(chosen, out, "Highlighted test pairs", note)
