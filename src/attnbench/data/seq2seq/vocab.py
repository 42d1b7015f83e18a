"""Vocabularies of the sequence-to-sequence data: characters (generated tasks) or words (text).

Ids 0-3 are always ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``; the rest are the training split's
tokens seen at least ``min_freq`` times, most frequent first (ties in first-seen order), up to
``max_vocab`` ids in all. A vocabulary is a plain dict in checkpoints and the data cache.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

from attnbench.data.seq2seq.corpus import DataError

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
TOKENIZERS = ("char", "word")
WORD = re.compile(r"\w+|[^\w\s]+")  # words and punctuation runs, as the classification tokenizer splits


class Vocab:
    """``kind``: ``char`` (every character, spaces included, is a token) or ``word``; texts are NFKC
    normalised (and lowercased with ``lowercase``) before splitting."""

    def __init__(self, kind: str, tokens: list[str], lowercase: bool = False) -> None:
        if kind not in TOKENIZERS:
            raise DataError(f"data.tokenizer={kind!r} is not available for seq2seq; use one of {list(TOKENIZERS)}")
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}")
        self.kind, self.tokens, self.lowercase = kind, list(tokens), lowercase
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def fit(cls, kind: str, texts: Iterable[str], max_vocab: int, min_freq: int = 1, lowercase: bool = False) -> Vocab:
        """The vocabulary of ``texts`` (the training split)."""
        probe = cls(kind, list(SPECIALS), lowercase)
        counts = Counter(t for text in texts for t in probe.split(text))
        kept = [t for t, n in counts.most_common() if n >= min_freq and t not in probe.index]
        return cls(kind, list(SPECIALS) + kept[: max(0, max_vocab - len(SPECIALS))], lowercase)

    def split(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        text = text.lower() if self.lowercase else text
        return list(text) if self.kind == "char" else WORD.findall(text)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(t, UNK_ID) for t in self.split(text)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Token strings of ``ids``, stopping at EOS and skipping padding and BOS."""
        out = []
        for i in ids:
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(self.tokens[i] if 0 <= i < len(self.tokens) else SPECIALS[UNK_ID])
        return out

    def join(self, tokens: list[str]) -> str:
        """Tokens back to text: characters concatenated, words joined by spaces."""
        return "".join(tokens) if self.kind == "char" else " ".join(tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": list(self.tokens), "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Vocab:
        return cls(state["kind"], list(state["tokens"]), bool(state["lowercase"]))
