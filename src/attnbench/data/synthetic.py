"""Synthetic long-sequence tasks, generated deterministically from a seed, where a fixed-size summary of
the sequence must eventually fail as the length L grows.

Tasks (``data.synthetic.task``); every example is a space-separated token string, so the ordinary
tokenizer and DataModule handle it, and each has exactly ``L`` tokens (``meta['length']``); ``meta['gold']``
is the position of the token that decides the label (:func:`gold_position`):

- ``needle``: ``L - 2`` noise tokens ``n<i>``; at ``position`` the marker ``needle`` followed by a value
  token ``v<k>``. The label is ``k`` (``num_classes`` classes).
- ``recall``: associative recall: ``(L - 2) // 2`` pairs ``k<key> v<value>`` with distinct keys (one
  leading ``n0`` if ``L`` is odd), then ``query k<key>``. The label is that key's value.
- ``pair_match``: text pairs. The second text (the document) is ``L`` noise tokens; the first (the query)
  is ``query_length`` tokens. The label is 1 (``in_order``) if the query's tokens occur in the document
  in that order (as a subsequence), else 0 (``absent``); classes are balanced in expectation.
- ``pair_recall``: text pairs, associative recall with the query apart. The document is ``L // 2`` pairs
  ``k<key> v<value>`` with distinct keys (one leading ``n0`` if ``L`` is odd); the query is one of its
  keys, ``k<key>``. The label is that key's value: a query→document lookup, what attention over the
  second text is for.

``length`` may be a list: every split then holds ``num_<split>`` examples *per length*.

Unless ``data.dedup=none``, no input repeats (:class:`attnbench.data.dedup.DistinctDraws`): train draws
distinct inputs, then validation and test draw inputs that train (and each other) lack, per length; a
space of distinct inputs too small for the sizes asked is an error naming the keys to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from attnbench.config import DataConfig, SyntheticConfig
from attnbench.data.corpus import DataError, TextCorpus
from attnbench.data.dedup import DistinctDraws

GENERATOR_VERSION = 2  # bump when generation changes, so cached data built by the old code is not reused
TASKS = ("needle", "recall", "pair_match", "pair_recall")  # append only: the index seeds the generator
PAIR_TASKS = ("pair_match", "pair_recall")
POSITIONS = ("uniform", "middle", "start", "end")
# the schema states the defaults; a partial dict (tests, Python callers) is completed from it
DEFAULTS: dict[str, Any] = asdict(SyntheticConfig())
SPLIT_SIZES = (("train", "num_train"), ("val", "num_val"), ("test", "num_test"))
TOO_FEW = (
    "lower data.synthetic.num_train/num_val/num_test, raise data.synthetic.length (or noise_vocab, num_classes, "
    "num_keys), or set data.dedup=none to allow repeats"
)


def lengths_of(length: int | Sequence[int]) -> list[int]:
    values = [length] if isinstance(length, int) else list(length)
    if not values or not all(isinstance(v, int) and v >= 2 for v in values):
        raise DataError(f"data.synthetic.length={length!r}: give an integer >= 2 or a list of them")
    return values


def is_subsequence(query: Sequence[Any], doc: Sequence[Any]) -> bool:
    """Whether ``query``'s items occur in ``doc`` in order (not necessarily adjacent)."""
    it = iter(doc)
    return all(any(q == d for d in it) for q in query)


def _check(cfg: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise DataError(f"data.synthetic.{unknown[0]} is not a setting; accepted: {', '.join(DEFAULTS)}")
    cfg = {**DEFAULTS, **{k: v for k, v in cfg.items() if v is not None}}
    if cfg["task"] not in TASKS:
        raise DataError(f"data.synthetic.task={cfg['task']!r} is unknown; use one of {list(TASKS)}")
    if cfg["position"] not in POSITIONS:
        raise DataError(f"data.synthetic.position={cfg['position']!r}; use one of {list(POSITIONS)}")
    for key in ("num_train", "num_val", "num_test", "num_classes", "noise_vocab", "num_keys", "query_length"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise DataError(f"data.synthetic.{key}={cfg[key]!r} must be an integer >= 1")
    if cfg["task"] != "pair_match" and cfg["num_classes"] < 2:
        raise DataError("data.synthetic.num_classes must be >= 2")
    cfg["length"] = lengths_of(cfg["length"])
    pairs_needed = {"recall": (max(cfg["length"]) - 2) // 2, "pair_recall": max(cfg["length"]) // 2}.get(cfg["task"], 0)
    if pairs_needed > cfg["num_keys"]:
        raise DataError(
            f"data.synthetic.task={cfg['task']} with length {max(cfg['length'])} needs {pairs_needed} "
            f"distinct keys but num_keys={cfg['num_keys']}. Fix: raise data.synthetic.num_keys."
        )
    if cfg["task"] == "pair_match" and cfg["query_length"] > min(cfg["length"]):
        raise DataError("data.synthetic.query_length must not exceed the shortest length")
    return cfg


def _needle(rng: np.random.Generator, length: int, cfg: dict[str, Any]) -> tuple[list[str], None, int]:
    noise = rng.integers(cfg["noise_vocab"], size=length - 2)
    label = int(rng.integers(cfg["num_classes"]))
    slots = length - 2  # the marker may start at 0..L-2
    pos = {"start": 0, "end": slots, "middle": slots // 2}.get(cfg["position"])
    if pos is None:
        pos = int(rng.integers(slots + 1))
    tokens = [f"n{i}" for i in noise]
    tokens[pos:pos] = ["needle", f"v{label}"]
    return tokens, None, label


def _recall(rng: np.random.Generator, length: int, cfg: dict[str, Any]) -> tuple[list[str], None, int]:
    n_pairs = (length - 2) // 2
    keys = rng.choice(cfg["num_keys"], size=n_pairs, replace=False)
    values = rng.integers(cfg["num_classes"], size=n_pairs)
    q = int(rng.integers(n_pairs)) if n_pairs else 0
    tokens = ["n0"] * ((length - 2) % 2)
    for k, v in zip(keys.tolist(), values.tolist(), strict=True):
        tokens += [f"k{k}", f"v{v}"]
    if n_pairs == 0:  # L in (2, 3): nothing to recall; the query names an absent key and the label is 0
        return [*tokens, "query", "k0"], None, 0
    return [*tokens, "query", f"k{keys[q]}"], None, int(values[q])


def _pair_match(rng: np.random.Generator, length: int, cfg: dict[str, Any]) -> tuple[list[str], list[str], int]:
    doc = rng.integers(cfg["noise_vocab"], size=length).tolist()
    m = cfg["query_length"]
    want = int(rng.integers(2))
    query = [doc[i] for i in sorted(rng.choice(length, size=m, replace=False).tolist())]
    if not want:
        for _ in range(20):  # a shuffled subsequence is usually out of order
            candidate = rng.permutation(query).tolist()
            if not is_subsequence(candidate, doc):
                query = candidate
                break
        else:  # all tokens common (small vocabulary): swap one for a token the document lacks, if any
            absent = sorted(set(range(cfg["noise_vocab"])) - set(doc))
            if absent:
                query[int(rng.integers(m))] = absent[int(rng.integers(len(absent)))]
    # the label is what the input says, whatever generation aimed for
    label = int(is_subsequence(query, doc))
    return [f"n{i}" for i in query], [f"n{i}" for i in doc], label


def _pair_recall(rng: np.random.Generator, length: int, cfg: dict[str, Any]) -> tuple[list[str], list[str], int]:
    n_pairs = length // 2
    keys = rng.choice(cfg["num_keys"], size=n_pairs, replace=False)
    values = rng.integers(cfg["num_classes"], size=n_pairs)
    q = int(rng.integers(n_pairs))
    doc = ["n0"] * (length % 2)
    for k, v in zip(keys.tolist(), values.tolist(), strict=True):
        doc += [f"k{k}", f"v{v}"]
    return [f"k{keys[q]}"], doc, int(values[q])


def gold_position(task: str, tokens: list[str], pair: list[str] | None) -> int:
    """Where the token that decides the label is (``meta['gold']``; −1: no single one): needle: the value
    after the marker; recall: the value after the queried key; pair_recall: the query key's value in the
    document (the second text). Positions count words, as ``tokenizer=word`` does."""
    if task == "needle":
        return tokens.index("needle") + 1
    if task == "recall":
        at = tokens.index(tokens[-1])  # the queried key's pair, or the query itself when there is none
        return at + 1 if at < len(tokens) - 2 else -1
    if task == "pair_recall" and pair is not None:
        return pair.index(tokens[0]) + 1
    return -1


GENERATORS = {"needle": _needle, "recall": _recall, "pair_match": _pair_match, "pair_recall": _pair_recall}


def generate(cfg: dict[str, Any], seed: int, dedup: str = DataConfig.dedup) -> TextCorpus:
    """The corpus for ``data.synthetic`` settings ``cfg``, fixed by ``seed``: every split and length
    has its own random stream, so adding a length does not change the examples of the others.
    ``dedup`` (``data.dedup``): unless ``none``, no input occurs twice (validation and test inputs are
    not in train)."""
    cfg = _check(dict(cfg))
    task = cfg["task"]
    make = GENERATORS[task]
    texts, pairs, labels, ids, split, lengths, gold = [], [], [], [], [], [], []
    for length in cfg["length"]:
        distinct = DistinctDraws(dedup, TOO_FEW)
        for split_index, (name, size_key) in enumerate(SPLIT_SIZES):
            rng = np.random.default_rng([seed, TASKS.index(task), length, split_index])
            distinct.begin(cfg[size_key], f"data.synthetic (task={task}, length {length}, {name} split)")
            for i in range(cfg[size_key]):
                tokens, pair, label = distinct.draw(
                    lambda: make(rng, length, cfg),  # noqa: B023 -- called at once, in this iteration
                    lambda item: (" ".join(item[0]), " ".join(item[1]) if item[1] is not None else None),
                )
                texts.append(" ".join(tokens))
                if pair is not None:
                    pairs.append(" ".join(pair))
                labels.append(label)
                ids.append(f"{name}/L{length}/{i}")
                split.append(name)
                lengths.append(length)
                gold.append(gold_position(task, tokens, pair))
    label_names = ["absent", "in_order"] if task == "pair_match" else [f"v{k}" for k in range(cfg["num_classes"])]
    return TextCorpus(
        texts,
        labels,
        label_names,
        ids,
        pairs=pairs if task in PAIR_TASKS else None,
        split=split,
        meta={"length": lengths, "gold": gold},
    )
