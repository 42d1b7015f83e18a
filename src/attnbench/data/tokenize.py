"""Tokenizers from Hugging Face ``tokenizers``, fit on the training split only."""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TOKENIZERS = ("word", "bpe")
TRUNCATION_SIDES = ("right", "left")


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else []))


def fit_word_tokenizer(
    train_texts: list[str], max_vocab: int, min_freq: int, lowercase: bool = True
) -> Tokenizer:
    """Word-level tokenizer (``\\w+`` words and punctuation runs), lowercased by default.

    ``max_vocab`` counts the two special tokens; ids 0 and 1 are always ``<pad>`` and ``<unk>``.
    """
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = _normalizer(lowercase)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_vocab, min_frequency=min_freq, special_tokens=[PAD, UNK], show_progress=False
    )
    tok.train_from_iterator(train_texts, trainer=trainer)
    return _checked(tok)


def fit_bpe_tokenizer(train_texts: list[str], max_vocab: int, min_freq: int, lowercase: bool = True) -> Tokenizer:
    """Byte-pair encoding over the same words and punctuation runs: rare words split into known pieces
    instead of becoming ``<unk>``. ``max_vocab`` is the size after merges, special tokens included."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = _normalizer(lowercase)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=max_vocab, min_frequency=min_freq, special_tokens=[PAD, UNK], show_progress=False
    )
    tok.train_from_iterator(train_texts, trainer=trainer)
    return _checked(tok)


def fit_tokenizer(kind: str, train_texts: list[str], max_vocab: int, min_freq: int, lowercase: bool) -> Tokenizer:
    if kind == "word":
        return fit_word_tokenizer(train_texts, max_vocab, min_freq, lowercase)
    if kind == "bpe":
        return fit_bpe_tokenizer(train_texts, max_vocab, min_freq, lowercase)
    raise ValueError(f"data.tokenizer={kind!r} is not available; use one of {list(TOKENIZERS)}")


def _checked(tok: Tokenizer) -> Tokenizer:
    if tok.token_to_id(PAD) != PAD_ID or tok.token_to_id(UNK) != UNK_ID:
        raise RuntimeError("tokenizer special tokens are not at ids 0/1")
    return tok


def encode(
    tok: Tokenizer, texts: list[str], max_length: int, truncation_side: str = "right"
) -> tuple[list[list[int]], list[int]]:
    """Token ids per text, truncated to ``max_length`` tokens (``right``: keep the first ones; ``left``:
    keep the last ones; never empty: ``[<unk>]``), and each text's untruncated token count."""
    ids, counts = [], []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        kept = enc.ids[:max_length] if truncation_side == "right" else enc.ids[-max_length:]
        ids.append(kept or [UNK_ID])
        counts.append(len(enc.ids))
    return ids, counts
