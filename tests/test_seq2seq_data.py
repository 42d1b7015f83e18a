"""Generated seq2seq data (every task, deterministic by seed, bad settings named) and vocabularies."""

from __future__ import annotations

import datetime as dt

import pytest

from attnbench.data.seq2seq.corpus import DataError
from attnbench.data.seq2seq.generated import TASKS, generate
from attnbench.data.seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab

TINY = {"num_train": 4, "num_val": 2, "num_test": 2}


@pytest.mark.parametrize("task", TASKS)
def test_every_task_is_deterministic_by_seed_and_keeps_lengths(task: str) -> None:
    cfg = {"task": task, "length": [2, 3], **TINY}
    first, again, other = generate(cfg, 7), generate(cfg, 7), generate(cfg, 8)
    assert (first.sources, first.targets) == (again.sources, again.targets)
    assert first.sources != other.sources
    assert len(first) == 2 * 8 and first.lengths.count(2) == first.lengths.count(3) == 8
    assert first.split.count("train") == 8 and first.split.count("test") == 4
    assert all(s and t for s, t in zip(first.sources, first.targets, strict=True))


def test_adding_a_length_leaves_the_other_pairs_unchanged() -> None:
    one = generate({"task": "copy", "length": 4, **TINY}, 1)
    two = generate({"task": "copy", "length": [4, 9], **TINY}, 1)
    assert two.sources[: len(one)] == one.sources


def test_symbolic_tasks_do_what_they_say() -> None:
    for task, check in (("copy", lambda s: s), ("reverse", lambda s: s[::-1]), ("sort", lambda s: "".join(sorted(s)))):
        corpus = generate({"task": task, "length": 6, "symbols": 5, **TINY}, 3)
        assert all(
            t == check(s) and set(s) <= set("abcde") for s, t in zip(corpus.sources, corpus.targets, strict=True)
        )
    lookup = generate({"task": "lookup", "length": 5, "queries": 2, **TINY}, 3)
    for source, target in zip(lookup.sources, lookup.targets, strict=True):
        pairs, asked = source.split("=")
        table = dict(zip(pairs[::2], pairs[1::2], strict=True))
        assert len(table) == 5 and target == "".join(table[k] for k in asked)


def test_length_ranges_draw_lengths_within_bounds() -> None:
    corpus = generate(
        {"task": "reverse", "length": 9, "min_length": 3, "num_train": 50, "num_val": 1, "num_test": 1}, 0
    )
    assert {len(s) for s in corpus.sources} <= set(range(3, 10)) and len(set(corpus.lengths)) > 3
    assert corpus.lengths == [len(s) for s in corpus.sources]


def test_numbers_in_words_map_to_digits() -> None:
    corpus = generate({"task": "numbers", "length": 3, "max_digits": 3, **TINY}, 0)
    for source, target in zip(corpus.sources, corpus.targets, strict=True):
        assert len(source.split("; ")) == len(target.split(";")) == 3
        assert all(n.isdigit() and int(n) < 1000 for n in target.split(";"))
        assert not any(ch.isdigit() for ch in source)
    rbnf = generate({"task": "numbers", "length": 1, "engine": "rbnf", "languages": ["de"], **TINY}, 0)
    assert all(not any(ch.isdigit() for ch in s) for s in rbnf.sources)


def test_dates_map_to_iso_with_four_digit_years() -> None:
    corpus = generate({"task": "dates", "length": 2, "locales": ["en", "de"], "years": [1950, 2000], **TINY}, 0)
    for source, target in zip(corpus.sources, corpus.targets, strict=True):
        for iso, written in zip(target.split(";"), source.split("; "), strict=True):
            date = dt.date.fromisoformat(iso)
            assert 1950 <= date.year <= 2000 and str(date.year) in written


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"task": "translate"}, "data.generate.task"),
        ({"task": "copy", "locales": ["en"]}, "data.generate.locales is not a setting"),
        ({"task": "copy", "length": 0}, "data.generate.length"),
        ({"task": "copy", "length": [3, 5], "min_length": 2}, "min_length"),
        ({"task": "copy", "num_train": 0}, "data.generate.num_train"),
        ({"task": "lookup", "length": 30}, "distinct keys"),
        ({"task": "numbers", "languages": ["xx"]}, "num2words does not spell 'xx'"),
        ({"task": "numbers", "engine": "rbnf", "languages": ["xx"]}, "unicode-rbnf"),
        ({"task": "dates", "formats": ["short"]}, "ambiguous"),
        ({"task": "dates", "locales": ["zz_QQ"]}, "babel does not know"),
        ({"task": "dates", "years": [99, 2000]}, "four-digit"),
    ],
)
def test_bad_settings_are_named(cfg: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        generate(cfg, 0)


def test_char_and_word_vocabularies() -> None:
    chars = Vocab.fit("char", ["abca", "bd"], max_vocab=100)
    assert chars.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and chars.tokens[4] == "a"
    ids = chars.encode("abz")
    assert ids[2] == UNK_ID and chars.decode([*ids[:2], EOS_ID, 5]) == ["a", "b"]
    assert chars.decode([BOS_ID, ids[0], PAD_ID]) == ["a"]
    words = Vocab.fit("word", ["Hello, world", "hello again"], max_vocab=6, lowercase=True)
    assert words.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "hello", ","]
    assert words.join(words.decode(words.encode("Hello, again"))) == "hello , <unk>"
    assert Vocab.from_dict(words.to_dict()).tokens == words.tokens
    with pytest.raises(DataError, match=r"data\.tokenizer"):
        Vocab.fit("bpe", [], 10)
