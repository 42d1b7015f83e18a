"""Exact match, token accuracy, BLEU and chrF against hand-counted examples, by length bucket, and
exact when the examples are split over batches (the sums that DDP adds over ranks)."""

from __future__ import annotations

import math

import pytest
import sacrebleu
import torch

from attnbench.tasks.seq2seq_metrics import SPACE, SequenceMetrics, bucket_labels, token_matches


def test_exact_match_and_token_accuracy_by_hand() -> None:
    m = SequenceMetrics(edges=[3, 6])
    hyps = [list("abc"), list("abd"), list("abcdef"), list("ab")]
    refs = [list("abc"), list("abc"), list("abcdeg"), list("abcd")]
    m.update(hyps, refs, torch.tensor([3, 3, 6, 5]))
    out = m.compute()
    assert float(out["acc"]) == pytest.approx(1 / 4)
    # matches: 3 + 2 + 5 + 2 = 12 over max lengths 3 + 3 + 6 + 4 = 16
    assert float(out["token_acc"]) == pytest.approx(12 / 16)
    assert float(out["acc@len=1-3"]) == pytest.approx(1 / 2)
    assert float(out["acc@len=4-6"]) == 0.0
    assert float(out["token_acc@len=4-6"]) == pytest.approx(7 / 10)


def test_bleu_by_hand() -> None:
    # hypothesis "a b c d e" against reference "a b c d f": n-gram precisions 4/5, 3/4, 2/3, 1/2, no
    # brevity penalty, so BLEU = (4/5 · 3/4 · 2/3 · 1/2)^(1/4)
    m = SequenceMetrics()
    m.update([list("abcde")], [list("abcdf")], torch.tensor([5]))
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert float(m.compute()["bleu"]) == pytest.approx(expected, abs=1e-4)
    # a short hypothesis: brevity penalty exp(1 − r/c) with r = 5, c = 4; precisions 1, 1, 1, 1
    short = SequenceMetrics()
    short.update([list("abcd")], [list("abcdf")], torch.tensor([5]))
    assert float(short.compute()["bleu"]) == pytest.approx(math.exp(1 - 5 / 4), abs=1e-4)


def test_corpus_scores_do_not_depend_on_how_examples_were_split() -> None:
    hyps = [list("abcde"), list("xbcd"), list("hello"), list("wor")]
    refs = [list("abcdf"), list("abcd"), list("hello"), list("world")]
    lengths = torch.tensor([5, 4, 5, 5])
    whole = SequenceMetrics(edges=[4, 5])
    whole.update(hyps, refs, lengths)
    parts = [SequenceMetrics(edges=[4, 5]) for _ in range(2)]
    parts[0].update(hyps[:1], refs[:1], lengths[:1])
    parts[1].update(hyps[1:], refs[1:], lengths[1:])
    parts[0].merge_state(parts[1])  # the sum reduction DDP applies over ranks
    a, b = whole.compute(), parts[0].compute()
    assert a.keys() == b.keys() and all(float(a[k]) == float(b[k]) for k in a)
    assert float(a["chrf"]) < 1.0 and float(a["chrf@len=5"]) > float(a["chrf@len=1-4"])


def test_bucket_labels_and_helpers() -> None:
    assert bucket_labels([5, 10, 11]) == ["1-5", "6-10", "11"]
    assert bucket_labels([2, 3], lowest=2) == ["2", "3"]
    assert token_matches(list("abc"), list("abxd")) == (2, 4)
    with pytest.raises(ValueError, match="ascend"):
        SequenceMetrics(edges=[5, 3])


def test_the_space_token_counts_in_bleu_and_chrf() -> None:
    # character data: "twentyone" against "twenty one" is wrong, and BLEU must not call it perfect
    m = SequenceMetrics()
    m.update([list("twentyone")], [list("twenty one")], torch.tensor([9]))
    out = m.compute()
    assert float(out["acc"]) == 0.0
    assert float(out["bleu"]) < 0.75 and float(out["chrf"]) < 0.95
    same = SequenceMetrics()
    same.update([list("twenty one")], [list("twenty one")], torch.tensor([9]))
    assert float(same.compute()["bleu"]) == pytest.approx(1.0)


WORDS = [
    ("the cat sat on the mat", "the cat sat on a mat"),
    ("there is a cat on the mat today", "a cat is on the mat"),
    ("hello world", "hello there world"),
    ("one two three four five", "one two three four five"),
]


def test_bleu_and_chrf_equal_sacrebleus_corpus_scores() -> None:
    # several sentences with spaces, word tokens: the summed statistics must give sacrebleu's own scores
    hyps, refs = [h.split() for h, _ in WORDS], [r.split() for _, r in WORDS]
    m = SequenceMetrics()
    m.update(hyps, refs, torch.tensor([len(r) for r in refs]))
    out = m.compute()
    hyp_text, ref_text = [h for h, _ in WORDS], [r for _, r in WORDS]
    bleu = sacrebleu.corpus_bleu(hyp_text, [ref_text], tokenize="none").score / 100
    chrf = sacrebleu.corpus_chrf(hyp_text, [ref_text]).score / 100
    assert float(out["bleu"]) == pytest.approx(bleu, abs=1e-6) and 0.2 < bleu < 0.9
    assert float(out["chrf"]) == pytest.approx(chrf, abs=1e-6) and 0.2 < chrf < 0.95
    # chrF, not chrF++ (word order 0): chrF++ differs on these sentences
    assert chrf != pytest.approx(sacrebleu.corpus_chrf(hyp_text, [ref_text], word_order=2).score / 100, abs=1e-4)
    # characters: the same scores as sacrebleu on the characters with spaces made visible
    chars = SequenceMetrics()
    chars.update([list(h) for h in hyp_text], [list(r) for r in ref_text], torch.tensor([1, 1, 1, 1]))
    visible = [[" ".join(SPACE if c == " " else c for c in s) for s in side] for side in (hyp_text, ref_text)]
    bleu_chars = sacrebleu.corpus_bleu(visible[0], [visible[1]], tokenize="none").score / 100
    assert float(chars.compute()["bleu"]) == pytest.approx(bleu_chars, abs=1e-6)
    assert float(chars.compute()["chrf"]) == pytest.approx(
        sacrebleu.corpus_chrf(visible[0], [visible[1]]).score / 100, abs=1e-6
    )


def test_buckets_edges_and_mismatches() -> None:
    m = SequenceMetrics(edges=[2, 4, 9])
    m.update([list("ab"), list("abcdefghijkl")], [list("ab"), list("abcdefghijkz")], torch.tensor([2, 12]))
    out = m.compute()
    assert float(out["acc@len=1-2"]) == 1.0 and float(out["acc@len=5-9"]) == 0.0  # 12 counts in the last bucket
    assert "acc@len=3-4" not in out  # an empty bucket has no score
    assert float(out["token_acc@len=5-9"]) == pytest.approx(11 / 12)
    named = SequenceMetrics(edges=[2, 9], labels=["short", "long"])
    named.update([list("ab")], [list("ab")], torch.tensor([5]))
    assert set(named.compute()) == {"acc", "token_acc", "bleu", "chrf"} | {
        f"{k}@len=long" for k in ("acc", "token_acc", "bleu", "chrf")
    }
    with pytest.raises(ValueError, match="2 length bucket labels for 3 edges"):
        SequenceMetrics(edges=[2, 4, 9], labels=["a", "b"])
    with pytest.raises(ValueError, match="one entry per example"):
        m.update([list("a")], [list("a"), list("b")], torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="one entry per example"):
        m.update([list("a")], [list("a")], torch.tensor([1, 1]))
    empty = SequenceMetrics().compute()
    assert float(empty["acc"]) == 0.0 and float(empty["token_acc"]) == 0.0


def test_bleu_takes_the_tokens_as_they_are() -> None:
    # tokenize="none": "mat." is one token, as the model emitted it; sacrebleu's 13a would split it
    hyps, refs = ["the cat sat on the mat .", "a dog , barking"], ["the cat sat on the mat.", "a dog, barking"]
    m = SequenceMetrics()
    m.update([h.split() for h in hyps], [r.split() for r in refs], torch.tensor([1, 1]))
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score / 100
    assert float(m.compute()["bleu"]) == pytest.approx(expected, abs=1e-6)
    assert expected != pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score / 100, abs=1e-3)
