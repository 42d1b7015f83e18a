"""Tokenizers from Hugging Face ``tokenizers``, fit on the training split only."""

from __future__ import annotations

from typing import Any

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TOKENIZERS = ("word", "bpe")
TRUNCATION_SIDES = ("right", "left")


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else []))


def check_tokenizer(kind: str, truncation_side: str) -> None:
    """Fail at construction, not after the corpus is read, on a tokenizer or truncation side we lack."""
    if kind not in TOKENIZERS:
        raise ValueError(f"data.tokenizer={kind!r} is not available; use one of {list(TOKENIZERS)}")
    if truncation_side not in TRUNCATION_SIDES:
        raise ValueError(f"data.truncation_side={truncation_side!r}; use one of {list(TRUNCATION_SIDES)}")


def fit_tokenizer(kind: str, train_texts: list[str], max_vocab: int, min_freq: int, lowercase: bool) -> Tokenizer:
    """A tokenizer fit on ``train_texts``; both kinds split on ``\\w+`` words and punctuation runs after
    NFKC (and lowercasing, if ``lowercase``), ids 0 and 1 are always ``<pad>`` and ``<unk>``, and
    ``max_vocab`` counts them.

    ``word``: one id per word (rare words become ``<unk>``); ``bpe``: byte-pair encoding, so rare words
    split into known pieces instead.
    """
    options: dict[str, Any] = {
        "vocab_size": max_vocab,
        "min_frequency": min_freq,
        "special_tokens": [PAD, UNK],
        "show_progress": False,
    }
    trainer: trainers.Trainer
    if kind == "word":
        tok, trainer = Tokenizer(models.WordLevel(unk_token=UNK)), trainers.WordLevelTrainer(**options)
    elif kind == "bpe":
        tok, trainer = Tokenizer(models.BPE(unk_token=UNK)), trainers.BpeTrainer(**options)
    else:
        raise ValueError(f"data.tokenizer={kind!r} is not available; use one of {list(TOKENIZERS)}")
    tok.normalizer = _normalizer(lowercase)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(train_texts, trainer=trainer)
    return _checked(tok)


def _checked(tok: Tokenizer) -> Tokenizer:
    if tok.token_to_id(PAD) != PAD_ID or tok.token_to_id(UNK) != UNK_ID:
        raise RuntimeError("tokenizer special tokens are not at ids 0/1")
    return tok


def encode(
    tok: Tokenizer, texts: list[str], max_length: int, truncation_side: str
) -> tuple[list[list[int]], list[int]]:
    """Token ids per text, truncated to ``max_length`` tokens (``right``: keep the first ones; ``left``:
    keep the last ones; never empty: ``[<unk>]``), and each text's untruncated token count."""
    ids, counts = [], []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        kept = enc.ids[:max_length] if truncation_side == "right" else enc.ids[-max_length:]
        ids.append(kept or [UNK_ID])
        counts.append(len(enc.ids))
    return ids, counts
