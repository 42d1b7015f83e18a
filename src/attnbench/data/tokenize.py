"""Tokenizers from Hugging Face ``tokenizers``, fit on the training split only."""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def fit_word_tokenizer(
    train_texts: list[str], max_vocab: int, min_freq: int, lowercase: bool = True
) -> Tokenizer:
    """Word-level tokenizer (``\\w+`` words and punctuation runs), lowercased by default.

    ``max_vocab`` counts the two special tokens; ids 0 and 1 are always ``<pad>`` and ``<unk>``.
    """
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(norms)
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_vocab, min_frequency=min_freq, special_tokens=[PAD, UNK], show_progress=False
    )
    tok.train_from_iterator(train_texts, trainer=trainer)
    if tok.token_to_id(PAD) != PAD_ID or tok.token_to_id(UNK) != UNK_ID:
        raise RuntimeError("tokenizer special tokens are not at ids 0/1")
    return tok


def encode(tok: Tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], list[int]]:
    """Token ids per text, truncated to the first ``max_length`` tokens (never empty: ``[<unk>]``),
    and each text's untruncated token count (for truncation statistics)."""
    ids, counts = [], []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids.append(enc.ids[:max_length] or [UNK_ID])
        counts.append(len(enc.ids))
    return ids, counts
