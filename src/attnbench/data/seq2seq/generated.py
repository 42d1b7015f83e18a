"""Generated sequence-to-sequence tasks with a length axis, fixed by a seed (``data.generate``).

Symbolic tasks over the letters ``a``, ``b``, ... (``symbols`` of them), one character per symbol:

* ``copy``: ``length`` random symbols → the same; ``reverse``: → reversed; ``sort``: → sorted.
* ``lookup``: ``length`` key/value pairs (distinct letter keys, digit values), ``=``, then
  ``queries`` of the keys → their values: each output needs a position anywhere in the source.

Language tasks (:mod:`attnbench.data.seq2seq.language`): ``numbers`` and ``dates``, ``length`` items.

``length``: one value, or a list (every split then holds ``num_<split>`` pairs *per length*); with
``min_length`` set, each pair draws its length uniformly in [``min_length``, ``length``]. Every split,
length and task has its own random stream, so adding a length leaves the other pairs unchanged.

Unless ``data.dedup=none``, no source repeats (:class:`attnbench.data.dedup.DistinctDraws`): train
draws distinct sources, then validation and test draw sources that no earlier split holds, per length;
when the task has too few distinct sources for the sizes asked, an error names the keys to change.
Distinct draws change the mix of a task whose items are unevenly likely (``numbers`` draws the digit
count first, so a split holds at most the 10 one-digit numbers, and more long ones in their place).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import numpy as np

from attnbench.config.seq2seq import Seq2SeqDataConfig
from attnbench.data.dedup import DistinctDraws
from attnbench.data.seq2seq.corpus import DataError, PairCorpus, check_positive_ints, check_unknown_keys
from attnbench.data.seq2seq.language import check_dates, check_numbers, dates_pair, numbers_pair

GENERATOR_VERSION = 1  # bump when generation changes, so cached data of the old code is not reused
TASKS = ("copy", "reverse", "sort", "lookup", "numbers", "dates")  # append only: the index seeds the stream
COMMON: dict[str, Any] = {
    "task": "reverse",
    "length": 10,
    "min_length": None,
    "num_train": 1000,
    "num_val": 200,
    "num_test": 200,
}
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "copy": {"symbols": 10},
    "reverse": {"symbols": 10},
    "sort": {"symbols": 10},
    "lookup": {"symbols": 26, "queries": 1},
    "numbers": {"languages": ["en"], "engine": "num2words", "max_digits": 4},
    "dates": {"locales": ["en", "de", "fr", "es"], "formats": ["long", "full"], "years": [1900, 2099]},
}
SPLIT_SIZES = (("train", "num_train"), ("val", "num_val"), ("test", "num_test"))
LETTERS = string.ascii_lowercase
TOO_FEW = (
    "lower data.generate.num_train/num_val/num_test, raise data.generate.length (or min_length, symbols, "
    "max_digits, languages/locales/years), or set data.dedup=none to allow repeats"
)
Pair = tuple[str, str]


def _lengths(cfg: dict[str, Any]) -> list[int]:
    length, low = cfg["length"], cfg["min_length"]
    values = [length] if isinstance(length, int) and not isinstance(length, bool) else list(length)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise DataError(f"data.generate.length={length!r}: give an integer >= 1 or a list of them")
    if low is not None and (len(values) > 1 or not isinstance(low, int) or not 1 <= low <= values[0]):
        raise DataError(f"data.generate.min_length={low!r} needs one data.generate.length >= it (a range)")
    return values


def check(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with every default filled in, or a :class:`DataError` naming the bad setting."""
    task = cfg.get("task", COMMON["task"])
    if task not in TASKS:
        raise DataError(f"data.generate.task={task!r} is unknown; use one of {list(TASKS)}")
    accepted = {**COMMON, **TASK_OPTIONS[task]}
    given = {k: v for k, v in cfg.items() if v is not None}  # null: unset (the schema lists every task's keys)
    check_unknown_keys(given, accepted, "data.generate")
    cfg = {**accepted, **given}
    cfg["length"] = _lengths(cfg)
    check_positive_ints(cfg, ("num_train", "num_val", "num_test"), "data.generate")
    longest = max(cfg["length"])
    if task in ("copy", "reverse", "sort", "lookup"):
        check_positive_ints(cfg, ("symbols",), "data.generate")
        if cfg["symbols"] > len(LETTERS) or (task == "lookup" and cfg["symbols"] < longest):
            raise DataError(
                f"data.generate.symbols={cfg['symbols']} must be <= {len(LETTERS)}"
                + (f" and >= the longest length {longest} (distinct keys)" if task == "lookup" else "")
            )
    if task == "lookup":
        check_positive_ints(cfg, ("queries",), "data.generate")
    if task == "numbers":
        check_positive_ints(cfg, ("max_digits",), "data.generate")
        check_numbers(cfg)
    if task == "dates":
        check_dates(cfg)
    return cfg


def _symbols(rng: np.random.Generator, length: int, cfg: dict[str, Any]) -> str:
    return "".join(LETTERS[i] for i in rng.integers(cfg["symbols"], size=length).tolist())


def _copy(rng: np.random.Generator, length: int, cfg: dict[str, Any], tools: dict[str, Any]) -> Pair:
    source = _symbols(rng, length, cfg)
    return source, source


def _reverse(rng: np.random.Generator, length: int, cfg: dict[str, Any], tools: dict[str, Any]) -> Pair:
    source = _symbols(rng, length, cfg)
    return source, source[::-1]


def _sort(rng: np.random.Generator, length: int, cfg: dict[str, Any], tools: dict[str, Any]) -> Pair:
    source = _symbols(rng, length, cfg)
    return source, "".join(sorted(source))


def _lookup(rng: np.random.Generator, length: int, cfg: dict[str, Any], tools: dict[str, Any]) -> Pair:
    keys = [LETTERS[i] for i in rng.choice(cfg["symbols"], size=length, replace=False).tolist()]
    values = [str(v) for v in rng.integers(10, size=length).tolist()]
    asked = rng.integers(length, size=cfg["queries"]).tolist()
    source = "".join(k + v for k, v in zip(keys, values, strict=True)) + "=" + "".join(keys[i] for i in asked)
    return source, "".join(values[i] for i in asked)


MAKERS: dict[str, Callable[[np.random.Generator, int, dict[str, Any], dict[str, Any]], Pair]] = {
    "copy": _copy,
    "reverse": _reverse,
    "sort": _sort,
    "lookup": _lookup,
    "numbers": numbers_pair,
    "dates": dates_pair,
}


def generate(cfg: dict[str, Any], seed: int, dedup: str = Seq2SeqDataConfig.dedup) -> PairCorpus:
    """The pairs of the ``data.generate`` settings ``cfg``, fixed by ``seed`` (``data.split_seed``);
    ``dedup`` (``data.dedup``): unless ``none``, no source occurs twice (validation and test sources
    are not in train)."""
    cfg = check(dict(cfg))
    task, make = cfg["task"], MAKERS[cfg["task"]]
    tools: dict[str, Any] = {}
    split: list[str] = []
    lengths: list[int] = []
    corpus = PairCorpus([], [], [], split=split, lengths=lengths)
    for length in cfg["length"]:
        distinct = DistinctDraws(dedup, TOO_FEW)
        for split_index, (name, size_key) in enumerate(SPLIT_SIZES):
            rng = np.random.default_rng([seed, TASKS.index(task), length, split_index])
            low = cfg["min_length"] or length
            distinct.begin(cfg[size_key], f"data.generate (task={task}, length {length}, {name} split)")
            for i, n in enumerate(rng.integers(low, length + 1, size=cfg[size_key]).tolist()):
                source, target = distinct.draw(
                    lambda: make(rng, n, cfg, tools),  # noqa: B023 -- called at once, in this iteration
                    lambda pair: (pair[0],),
                )
                corpus.sources.append(source)
                corpus.targets.append(target)
                corpus.ids.append(f"{name}/L{n}/{i}")
                split.append(name)
                lengths.append(n)
    return corpus
