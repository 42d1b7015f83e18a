"""A tiny seq2seq run's test metrics are the values its checkpoint gives when the test split is decoded
by hand and scored by hand (exact match, token accuracy) and by sacrebleu (BLEU, chrF), overall and
per length: pinned values, not just numbers in [0, 1]."""

from __future__ import annotations

import math
from typing import Any

import sacrebleu
import torch
from hydra.utils import instantiate

from attnbench.tasks.seq2seq import Seq2SeqTask
from attnbench.train import run

from .test_seq2seq_train import TINY_S2S


def visible(tokens: list[str]) -> str:
    """The text sacrebleu scores: spaces made visible, a hypothesis's <unk> one character matching nothing."""
    return " ".join({" ": "\u2581", "<unk>": "\ue001"}.get(t, t) for t in tokens)


def test_the_logged_test_metrics_equal_a_hand_scoring_of_the_checkpoint(make_cfg: Any) -> None:
    cfg = make_cfg(*TINY_S2S, "attention=dot", "trainer.max_epochs=3", tiny=False)
    record = run(cfg)
    assert record["status"] == "completed", record.get("error")
    task = Seq2SeqTask.load_from_checkpoint(record["checkpoint"], weights_only=True).eval()
    dm = instantiate(cfg.data)
    dm.setup()
    hyps, refs, lengths = [], [], []
    with torch.no_grad():
        for batch in dm.test_dataloader():
            decoded = task.decode(batch)
            hyps += [task.vocab.decode(row) for row in decoded.tokens.tolist()]
            refs += [task.vocab.decode(row) for row in batch.target_out.tolist()]
            lengths += batch.lengths.tolist()
    metrics = record["metrics"]
    for length in (None, 3, 5):
        chosen = [i for i, n in enumerate(lengths) if length is None or n == length]
        h, r = [hyps[i] for i in chosen], [refs[i] for i in chosen]
        suffix = "" if length is None else f"@len={length}"
        same = sum(a == b for x, y in zip(h, r, strict=True) for a, b in zip(x, y, strict=False))
        expected = {
            "acc": sum(x == y for x, y in zip(h, r, strict=True)) / len(h),
            "token_acc": same / sum(max(len(x), len(y)) for x, y in zip(h, r, strict=True)),
            "bleu": sacrebleu.corpus_bleu([visible(x) for x in h], [[visible(y) for y in r]], tokenize="none").score
            / 100,
            "chrf": sacrebleu.corpus_chrf([visible(x) for x in h], [[visible(y) for y in r]]).score / 100,
        }
        for name, value in expected.items():
            assert math.isclose(metrics[f"test/{name}{suffix}"], value, abs_tol=1e-6), (name, suffix)
    assert 0.0 < metrics["test/token_acc"] < 1.0  # a run that learned something, but not everything
