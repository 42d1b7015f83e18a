"""Highlighted examples of a trained classifier: informative test examples with every token's attention
weight, gradient×input, leave-one-out and integrated-gradients score (:mod:`.attributions`, the numbers
the analyses rank by), for :mod:`attnbench.reporting.examples` to shade.

Choice (:func:`informative`): from a pool of test examples (a seeded subset, as the analyses draw it),
the correct example whose attention agrees most with gradient×input (largest Kendall τ) and the one
that agrees least, the same two among the wrong ones, then the most confident wrong one, then the
rest alternately from the top and the bottom of τ. The pool costs one forward and one backward pass
per example; leave-one-out and integrated gradients run only for the chosen few.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor, nn

from attnbench.analysis.adapter import explainer
from attnbench.analysis.context import BatchAnalysis, Settings
from attnbench.analysis.core import Explainable, Inputs
from attnbench.analysis.kendall import kendall_rows
from attnbench.analysis.session import batches_of, device_of, selection
from attnbench.data.batching import EncodedTexts, collate
from attnbench.reporting.examples import ShadedExample, alternate, write_examples

SHOWN = ("attention", "gradient", "loo", "ig")  # the rows of each example, attention first


@dataclass
class Candidate:
    """One pooled example: its position in the split, whether the prediction is right, the predicted
    class's probability and τ(attention, gradient×input) (NaN: fewer than 2 tokens or a constant row)."""

    index: int
    correct: bool
    probability: float
    tau: float


def informative(candidates: Sequence[Candidate], n: int) -> list[tuple[int, str]]:
    """Up to ``n`` (split index, reason) pairs, in the order of the module docstring, no repeats."""
    ranked = sorted((c for c in candidates if not math.isnan(c.tau)), key=lambda c: (-c.tau, c.index))
    right = [c for c in ranked if c.correct]
    wrong = [c for c in ranked if not c.correct]
    confident_wrong = sorted((c for c in candidates if not c.correct), key=lambda c: (-c.probability, c.index))
    wanted = [
        (right[:1], "correct, most faithful by τ"),
        (right[-1:], "correct, least faithful by τ"),
        (wrong[:1], "wrong, most faithful by τ"),
        (wrong[-1:], "wrong, least faithful by τ"),
        (confident_wrong[:1], "wrong, most confident"),
    ]
    picks: dict[int, str] = {}
    for chosen, reason in wanted:
        for c in chosen:
            picks.setdefault(c.index, reason)
    rest = [c for c in ranked if c.index not in picks]
    for k in range(len(rest)):  # alternately the next most and the next least faithful
        c = rest[k // 2] if k % 2 == 0 else rest[-1 - k // 2]
        picks.setdefault(c.index, "high τ" if k % 2 == 0 else "low τ")
    for c in candidates:  # τ undefined (a constant row, one token) last
        picks.setdefault(c.index, "τ undefined")
    return list(picks.items())[:n]


def pool_candidates(model: Explainable, batches: Iterable[Inputs], settings: Settings) -> list[Candidate]:
    """A :class:`Candidate` per example of ``batches`` (predictions, τ of attention and gradient×input)."""
    out = []
    for number, inputs in enumerate(batches):
        batch = BatchAnalysis(model, inputs, settings, number)
        tau, _ = kendall_rows(batch.attention, batch.gradient, inputs.lengths)
        prob = batch.probs.gather(-1, batch.classes[:, None]).squeeze(-1).cpu().tolist()
        assert inputs.index is not None and inputs.labels is not None
        right = (batch.classes.cpu() == inputs.labels).tolist()
        out += [
            Candidate(int(i), bool(r), float(p), float(t))
            for i, r, p, t in zip(inputs.index, right, prob, tau, strict=True)
        ]
    return out


@dataclass
class Vocabulary:
    """How to show an example: ``tokens(ids)`` → strings and the label names (index → name)."""

    tokenizer: object | None
    label_names: Sequence[str]

    def tokens(self, ids: Sequence[int]) -> list[str]:
        get = getattr(self.tokenizer, "id_to_token", None)
        return [(get(t) if get else None) or f"#{t}" for t in ids]

    def label(self, k: int) -> str:
        return self.label_names[k] if 0 <= k < len(self.label_names) else str(k)


def shaded(
    model: Explainable, inputs: Inputs, reasons: dict[int, str], vocab: Vocabulary, settings: Settings
) -> list[ShadedExample]:
    """Every measure of :data:`SHOWN` for the examples of ``inputs``, as :class:`ShadedExample`."""
    batch = BatchAnalysis(model, inputs, settings)
    scores = {name: getattr(batch, name).float().cpu() for name in SHOWN}
    tau, _ = kendall_rows(batch.attention, batch.gradient, inputs.lengths)
    assert inputs.index is not None and inputs.labels is not None
    out = []
    for row, index in enumerate(inputs.index.tolist()):
        n = int(inputs.lengths[row])
        gold = [] if inputs.gold is None else inputs.gold[row, :n].nonzero().flatten().tolist()
        out.append(
            ShadedExample(
                index=index,
                tokens=vocab.tokens(inputs.ids[row, :n].tolist()),
                scores={name: s[row, :n].tolist() for name, s in scores.items()},
                gold=vocab.label(int(inputs.labels[row])),
                predicted=vocab.label(int(batch.classes[row])),
                probability=float(batch.probs[row, batch.classes[row]]),
                tau=float(tau[row]),
                deciding=gold,
                reason=reasons.get(index, ""),
            )
        )
    return out


def choose_examples(
    model: nn.Module,
    dataset: EncodedTexts,
    vocab: Vocabulary,
    n: int,
    gold: Tensor | None = None,
    settings: Settings | None = None,
    pool: int = 200,
    device: str = "auto",
) -> list[ShadedExample]:
    """``n`` informative test examples of ``model`` (a classifier with attention) over ``dataset``,
    chosen from a seeded pool of at most ``pool`` examples; ``gold``: the split's deciding-token
    positions [N] (−1: none) or None."""
    settings = settings or Settings()
    where = device_of(device)
    wrapped = explainer(model.to(where).eval())
    with torch.random.fork_rng(devices=[]):  # the analyses draw nothing here, but callers' RNG stays put
        pooled = selection(dataset.text_lengths, pool, settings.seed)
        candidates = pool_candidates(wrapped, batches_of(dataset, pooled, 32, gold, where), settings)
        picks = dict(informative(candidates, n))
        if not picks:
            return []
        order = sorted(picks, key=lambda i: (-dataset.text_lengths[i], i))  # one batch, longest first
        inputs = next(batches_of(dataset, order, len(order), gold, where))
        examples = {e.index: e for e in shaded(wrapped, inputs, picks, vocab, settings)}
    return [examples[i] for i in picks]


def write_classifier_examples(
    model: nn.Module, dataset: EncodedTexts, vocab: Vocabulary, n: int, out_dir: Path, **options: object
) -> list[Path]:
    """:func:`choose_examples` rendered into ``out_dir/examples.{html,tex}``; ``options`` go to it."""
    examples = choose_examples(model, dataset, vocab, n, **options)  # type: ignore[arg-type]
    note = "Chosen from the test split: correct and wrong predictions, the most and least faithful by τ."
    return write_examples(examples, out_dir, "Highlighted test examples", note)


def attention_examples(
    model: nn.Module,
    dataset: EncodedTexts,
    vocab: Vocabulary,
    n: int,
    gold: Tensor | None = None,
    pool: int = 200,
    seed: int = 0,
    device: str = "auto",
) -> list[ShadedExample]:
    """``n`` test examples of a classifier the analyses cannot explain (a text pair: the Keras model's
    query attends over the document), shaded by the attention weights the model itself returns
    (``run_batch``; several rows are averaged). From a seeded pool of at most ``pool`` examples: the
    shortest shaded texts first (a page of 512-token documents is long), correct and wrong ones in turn,
    each group by the predicted class's probability, highest first. ``gold``: the deciding token's
    position in the second text of each pair [N] (−1: none); outlined where the weights are over it."""
    where = device_of(device)
    net = getattr(model, "model", model).to(where).eval()
    pooled = selection(dataset.lengths, pool, seed)
    found: list[tuple[int, ShadedExample]] = []
    with torch.no_grad():
        for start in range(0, len(pooled), 32):
            batch = collate([dataset[i] for i in pooled[start : start + 32]])
            moved = move_data_to_device(batch, where)  # the dataclass's tensors, copied to the device
            out = net.run_batch(moved)  # type: ignore[operator]
            if out.weights is None:
                raise ValueError(f"{type(net).__name__} returns no attention weights to shade")
            over_pair = out.weights_over == "pair_ids" and batch.pair_ids is not None
            shaded_ids, shaded_lengths = (
                (batch.pair_ids, batch.pair_lengths) if over_pair else (batch.ids, batch.lengths)
            )
            assert shaded_ids is not None and shaded_lengths is not None
            other_ids, other_lengths = (batch.ids, batch.lengths) if over_pair else (batch.pair_ids, batch.pair_lengths)
            probs = out.logits.float().softmax(-1).cpu()
            weights = out.weights.float().mean(1).cpu()  # [B, T]: the rows' mean is a distribution too
            for row, index in enumerate(batch.index.tolist()):
                k = int(shaded_lengths[row])
                predicted = int(probs[row].argmax())
                context = ""
                if other_ids is not None and other_lengths is not None:
                    text = " ".join(vocab.tokens(other_ids[row, : int(other_lengths[row])].tolist()))
                    context = f"{'query' if over_pair else 'second text'}: {text[:300]}{'…' if len(text) > 300 else ''}"
                deciding = [int(gold[index])] if over_pair and gold is not None and 0 <= int(gold[index]) < k else []
                found.append(
                    (
                        k,
                        ShadedExample(
                            index=index,
                            tokens=vocab.tokens(shaded_ids[row, :k].tolist()),
                            scores={"attention": weights[row, :k].tolist()},
                            gold=vocab.label(int(batch.labels[row])),
                            predicted=vocab.label(predicted),
                            probability=float(probs[row, predicted]),
                            deciding=deciding,
                            context=context,
                        ),
                    )
                )
    found.sort(key=lambda f: (f[0], -f[1].probability, f[1].index))
    return alternate([e for _, e in found], n)


def write_attention_examples(
    model: nn.Module, dataset: EncodedTexts, vocab: Vocabulary, n: int, out_dir: Path, **options: object
) -> list[Path]:
    """:func:`attention_examples` rendered into ``out_dir/examples.{html,tex}``."""
    examples = attention_examples(model, dataset, vocab, n, **options)  # type: ignore[arg-type]
    note = (
        "Text pairs: the analyses (gradient×input, leave-one-out, integrated gradients) take single texts, so "
        "each example is shaded by the model's attention only; correct and wrong predictions in turn."
    )
    return write_examples(examples, out_dir, "Highlighted test examples", note)
