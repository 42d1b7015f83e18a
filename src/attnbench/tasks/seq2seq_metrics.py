"""Sequence-to-sequence quality metrics as sums that are exact under DDP (torchmetrics states).

For decoded hypotheses against references, as token lists:

* ``acc``: exact match, the share of hypotheses equal to their reference;
* ``token_acc``: tokens equal at the same position, over max(len(hypothesis), len(reference)) per pair
  (so missing and extra tokens both count as errors);
* ``bleu`` and ``chrf``: corpus BLEU (Papineni et al. 2002) and chrF (Popović 2015) from ``sacrebleu``,
  on the tokens joined by spaces (BLEU over the model's own tokens: characters for character data).
  A whitespace token (the space of character data) becomes ``SPACE`` (▁) first: sacrebleu splits on
  whitespace, so a space token would vanish and ``twentyone`` would score BLEU 1 against ``twenty one``.

``<unk>`` in a reference stands for a token outside the target vocabulary, which no hypothesis can
produce: every metric treats it as the original token, one that matches nothing (a hypothesis's own
``<unk>`` included). Exact match, token accuracy and BLEU are then those against the original text;
so is chrF on character data (one unknown character each), while on word data it counts the unknown
word as one character.
  The states are sacrebleu's sufficient statistics (n-gram matches and totals), summed over batches and
  ranks, so the corpus score is the same however the examples were split.

Each is also reported per source-length bucket as ``<metric>@len=<bucket>``: ``edges`` are the
buckets' upper ends (inclusive); a bucket is labelled ``labels[i]``, by default ``lo-hi``, or ``n``
when it holds one length.
Lengths above the last edge count in the last bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sacrebleu.metrics import BLEU, CHRF
from torch import Tensor
from torchmetrics import Metric

from attnbench.data.seq2seq.vocab import SPECIALS, UNK_ID

METRICS = ("acc", "token_acc", "bleu", "chrf")
SPACE = "\u2581"  # what a whitespace token scores as in BLEU and chrF (sentencepiece's visible space)


UNK = SPECIALS[UNK_ID]
# what <unk> becomes in a reference and in a hypothesis: two private-use characters, equal to no token
REFERENCE_UNK, HYPOTHESIS_UNK = "\ue000", "\ue001"


def unknown_as(tokens: Sequence[str], stand_in: str) -> list[str]:
    """``tokens`` with ``<unk>`` replaced by ``stand_in`` (:data:`REFERENCE_UNK` or :data:`HYPOTHESIS_UNK`)."""
    return [stand_in if token == UNK else token for token in tokens]


def scored_text(tokens: Sequence[str]) -> str:
    """The tokens as BLEU and chrF see them: whitespace tokens made visible (``SPACE``), joined by spaces."""
    return " ".join(SPACE if token.isspace() else token for token in tokens)


def bucket_labels(edges: Sequence[int], lowest: int = 1) -> list[str]:
    """``lo-hi`` per bucket of inclusive upper ``edges`` (ascending), ``n`` for a one-length bucket."""
    labels, low = [], lowest
    for edge in edges:
        labels.append(str(edge) if edge <= low else f"{low}-{edge}")
        low = edge + 1
    return labels


def token_matches(hypothesis: Sequence[str], reference: Sequence[str]) -> tuple[int, int]:
    """(positions where both agree, max of the two lengths)."""
    same = sum(h == r for h, r in zip(hypothesis, reference, strict=False))
    return same, max(len(hypothesis), len(reference))


class SequenceMetrics(Metric):
    """``update(hypotheses, references, lengths [B])`` with token lists; ``compute()`` → a dict of the
    metrics (module docstring), each in [0, 1] (BLEU and chrF scaled from sacrebleu's 0-100)."""

    full_state_update = False
    # states registered with add_state in __init__: [1 + buckets, width] sums (row 0: all examples)
    exact: Tensor
    tokens: Tensor
    bleu_stats: Tensor
    chrf_stats: Tensor

    def __init__(self, edges: Sequence[int] = (), labels: Sequence[str] | None = None, lowest: int = 1) -> None:
        super().__init__()
        if list(edges) != sorted(set(edges)):
            raise ValueError(f"length bucket edges must ascend without repeats, got {list(edges)}")
        if labels is not None and len(labels) != len(edges):
            raise ValueError(f"{len(labels)} length bucket labels for {len(edges)} edges")
        self.edges = list(edges)
        self.labels = list(labels) if labels is not None else bucket_labels(edges, lowest)
        self.bleu, self.chrf = BLEU(tokenize="none", force=True), CHRF()
        rows = 1 + len(self.edges)  # row 0: all examples; row i: bucket i - 1
        bleu_n = len(self.bleu._extract_corpus_statistics(["a"], [["a"]])[0])
        chrf_n = len(self.chrf._extract_corpus_statistics(["a"], [["a"]])[0])
        for name, width in (("exact", 2), ("tokens", 2), ("bleu_stats", bleu_n), ("chrf_stats", chrf_n)):
            self.add_state(name, torch.zeros(rows, width, dtype=torch.long), dist_reduce_fx="sum")

    def _rows(self, lengths: Tensor) -> list[int]:
        if not self.edges:
            return [0] * len(lengths)
        edges = torch.tensor(self.edges, device=lengths.device)
        return (torch.bucketize(lengths, edges).clamp(max=len(self.edges) - 1) + 1).tolist()

    def update(self, hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], lengths: Tensor) -> None:
        if len(hypotheses) != len(references) or len(references) != len(lengths):
            raise ValueError("hypotheses, references and lengths must have one entry per example")
        hypotheses = [unknown_as(h, HYPOTHESIS_UNK) for h in hypotheses]  # an <unk> matches nothing
        references = [unknown_as(r, REFERENCE_UNK) for r in references]
        hyp = [scored_text(h) for h in hypotheses]
        ref = [scored_text(r) for r in references]
        bleu = self.bleu._extract_corpus_statistics(hyp, [ref])
        chrf = self.chrf._extract_corpus_statistics(hyp, [ref])
        for i, row in enumerate(self._rows(lengths)):
            same, total = token_matches(hypotheses[i], references[i])
            add = {
                "exact": [int(list(hypotheses[i]) == list(references[i])), 1],
                "tokens": [same, total],
                "bleu_stats": bleu[i],
                "chrf_stats": chrf[i],
            }
            for name, values in add.items():
                state = getattr(self, name)
                delta = torch.tensor(values, dtype=torch.long, device=state.device)
                state[0] += delta
                if row:
                    state[row] += delta

    def _scores(self, row: int) -> dict[str, float]:
        exact, tokens = self.exact[row].tolist(), self.tokens[row].tolist()
        return {
            "acc": exact[0] / exact[1] if exact[1] else 0.0,
            "token_acc": tokens[0] / tokens[1] if tokens[1] else 0.0,
            "bleu": self.bleu._compute_score_from_stats(self.bleu_stats[row].tolist()).score / 100,
            "chrf": self.chrf._compute_score_from_stats(self.chrf_stats[row].tolist()).score / 100,
        }

    def compute(self) -> dict[str, Tensor]:
        out = {k: torch.tensor(v) for k, v in self._scores(0).items()}
        for i, label in enumerate(self.labels, start=1):
            if self.exact[i, 1] > 0:  # an empty bucket has no score (not 0)
                out.update({f"{k}@len={label}": torch.tensor(v) for k, v in self._scores(i).items()})
        return out
