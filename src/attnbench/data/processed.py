"""The processed data of one split, as the cache holds it, and back: token ids of all texts flattened
into one int32 tensor with lengths (compact on disk), token counts before truncation, labels, document
ids and per-example ``meta``; ``pair_*`` likewise for the second text of text pairs."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from attnbench.data.batching import EncodedTexts
from attnbench.data.corpus import TextCorpus
from attnbench.data.dedup import drop_eval_seen_in_train, ids_key
from attnbench.data.tokenize import encode


def _flat(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of many sequences as one int32 tensor [sum of lengths] plus lengths [N]."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    flat = torch.from_numpy(np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int32, count=int(lengths.sum())))
    return flat, lengths


def _unflat(flat: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.split(flat.long(), lengths.tolist()))


def encode_split(
    tokenizer: Tokenizer, corpus: TextCorpus, idx: np.ndarray, max_length: int, truncation_side: str
) -> dict[str, Any]:
    """The examples ``idx`` (corpus indices, N of them) of ``corpus`` encoded: ``ids``/``lengths``
    (flat), ``counts`` [N] tokens before truncation, ``labels`` [N], ``doc_ids``, ``meta`` [N] per key,
    and for text pairs ``pair_ids``/``pair_lengths``/``pair_counts``."""
    labels = np.asarray(corpus.labels)
    ids, counts = encode(tokenizer, [corpus.texts[i] for i in idx], max_length, truncation_side)
    flat, lengths = _flat(ids)
    part: dict[str, Any] = {
        "ids": flat,
        "lengths": lengths,
        "counts": torch.tensor(counts, dtype=torch.long),
        "labels": torch.as_tensor(labels[idx], dtype=torch.long),
        "doc_ids": [corpus.ids[i] for i in idx],
        "meta": {k: torch.tensor([v[i] for i in idx], dtype=torch.long) for k, v in corpus.meta.items()},
    }
    if corpus.pairs is not None:
        pair_ids, pair_counts = encode(tokenizer, [corpus.pairs[i] for i in idx], max_length, truncation_side)
        part["pair_ids"], part["pair_lengths"] = _flat(pair_ids)
        part["pair_counts"] = torch.tensor(pair_counts, dtype=torch.long)
    return part


def encoded_texts(part: dict[str, Any], is_pair: bool) -> EncodedTexts:
    """The dataset of one split from :func:`encode_split`'s output: one id tensor per text."""
    pair = _unflat(part["pair_ids"], part["pair_lengths"]) if is_pair else None
    return EncodedTexts(_unflat(part["ids"], part["lengths"]), part["labels"], pair)


def part_keys(part: dict[str, Any]) -> list[bytes]:
    """One key per example of a processed split: its token ids after truncation (both texts of a pair),
    the model's input, so equal keys are inputs the model cannot tell apart."""
    texts = _unflat(part["ids"], part["lengths"])
    pairs = _unflat(part["pair_ids"], part["pair_lengths"]) if "pair_ids" in part else [None] * len(texts)
    return [ids_key(t, *([] if p is None else [p])) for t, p in zip(texts, pairs, strict=True)]


def subset_part(part: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    """The examples at positions ``rows`` of a processed split, in the same layout."""
    out: dict[str, Any] = {
        "counts": part["counts"][rows],
        "labels": part["labels"][rows],
        "doc_ids": [part["doc_ids"][i] for i in rows],
        "meta": {k: v[rows] for k, v in part["meta"].items()},
    }
    sides = [("ids", "lengths")] + ([("pair_ids", "pair_lengths")] if "pair_ids" in part else [])
    for ids_name, lengths_name in sides:
        seqs = _unflat(part[ids_name], part[lengths_name])
        out[ids_name], out[lengths_name] = _flat([seqs[i].tolist() for i in rows])
    if "pair_counts" in part:
        out["pair_counts"] = part["pair_counts"][rows]
    return out


def drop_seen_in_train(splits: dict[str, dict[str, Any]], mode: str) -> dict[str, int]:
    """Remove (in place) the validation and test examples whose token ids after truncation (both texts of
    a pair) equal a training example's (:func:`~attnbench.data.dedup.drop_eval_seen_in_train`)."""
    return drop_eval_seen_in_train(splits, mode, part_keys, subset_part, "example's token ids")
