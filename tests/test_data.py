"""BBC News: a deterministic, stratified, disjoint split; a vocabulary fit on the training split only;
well-formed batches."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from attnbench.data import TextBatch, TextClassificationDataModule, stratified_split
from attnbench.data.dedup import dedup_corpus
from attnbench.data.tokenize import PAD_ID, UNK_ID

N_DOCS = 2225


def test_corpus(bbc_corpus) -> None:
    assert len(bbc_corpus.texts) == len(bbc_corpus.labels) == len(bbc_corpus.ids) == N_DOCS
    assert bbc_corpus.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    assert len(set(bbc_corpus.ids)) == N_DOCS
    assert all(bbc_corpus.ids[i].startswith(bbc_corpus.label_names[y] + "/") for i, y in enumerate(bbc_corpus.labels))


def test_split_is_disjoint_and_covers_every_document(bbc_corpus) -> None:
    s = stratified_split(bbc_corpus.labels, 0.1, 0.1, seed=1234)
    parts = [set(s.train.tolist()), set(s.val.tolist()), set(s.test.tolist())]
    assert sum(len(p) for p in parts) == N_DOCS
    assert set.union(*parts) == set(range(N_DOCS))
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_split_is_deterministic_per_seed(bbc_corpus) -> None:
    a = stratified_split(bbc_corpus.labels, 0.1, 0.1, seed=1234)
    b = stratified_split(bbc_corpus.labels, 0.1, 0.1, seed=1234)
    c = stratified_split(bbc_corpus.labels, 0.1, 0.1, seed=99)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name)), name


@pytest.mark.parametrize("seed", [1234, 7])
def test_split_is_stratified(bbc_corpus, seed: int) -> None:
    labels = np.asarray(bbc_corpus.labels)
    counts = np.bincount(labels)
    s = stratified_split(bbc_corpus.labels, 0.1, 0.1, seed=seed)
    for name, fraction in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        got = np.bincount(labels[getattr(s, name)], minlength=len(counts))
        expected = counts * fraction
        assert np.all(np.abs(got - expected) <= 1), f"{name}: {got.tolist()} vs {expected.round(1).tolist()}"


def test_invalid_fractions_are_rejected(bbc_corpus) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(bbc_corpus.labels, 0.5, 0.5, seed=0)


def test_datamodule_split_ids(bbc_datamodule, bbc_corpus) -> None:
    ids = bbc_datamodule.split_ids
    # the 98 duplicate articles go before splitting (data.dedup=exact), then one val and one test article
    # whose first 400 tokens equal a training article's
    keep, stats = dedup_corpus(bbc_corpus, np.arange(N_DOCS), "exact")
    assert stats["dedup_removed"] == 98 and len(keep) == N_DOCS - 98
    s = stratified_split([bbc_corpus.labels[i] for i in keep], 0.1, 0.1, seed=1234)
    carved = {name: [bbc_corpus.ids[keep[i]] for i in getattr(s, name)] for name in ("train", "val", "test")}
    assert ids["train"] == carved["train"]
    for name in ("val", "test"):
        assert set(ids[name]) <= set(carved[name])
        assert len(carved[name]) - len(ids[name]) == bbc_datamodule.summary[f"{name}/dedup_truncated_removed"] == 1
    assert all("/" in i and i.endswith(".txt") for i in ids["train"][:10])
    sizes = {k: len(v) for k, v in bbc_datamodule.datasets.items()}
    assert sizes == {k: len(v) for k, v in ids.items()}


@pytest.fixture(scope="module")
def small_dm() -> TextClassificationDataModule:
    """Another training seed, a 500-word vocabulary, 16-token sequences; the default split seed."""
    dm = TextClassificationDataModule.from_schema(seed=7, max_vocab=500, max_length=16)
    dm.setup()
    return dm


def test_training_seed_does_not_change_the_split(bbc_datamodule, small_dm) -> None:
    assert small_dm.seed != bbc_datamodule.seed
    assert small_dm.split_ids["train"] == bbc_datamodule.split_ids["train"]
    for name in ("val", "test"):  # 16 tokens of a 500-word vocabulary make more articles one input: fewer left
        assert set(small_dm.split_ids[name]) <= set(bbc_datamodule.split_ids[name])
        removed = small_dm.summary[f"{name}/dedup_truncated_removed"] - 1
        assert len(bbc_datamodule.split_ids[name]) - len(small_dm.split_ids[name]) == removed
    moved = TextClassificationDataModule.from_schema(split_seed=bbc_datamodule.split_seed + 1, max_vocab=500)
    moved.setup()
    assert moved.split_ids["test"] != bbc_datamodule.split_ids["test"]


def words(tokenizer, text: str) -> set[str]:
    """The words the tokenizer's own normalizer and pre-tokenizer cut ``text`` into."""
    normalized = tokenizer.normalizer.normalize_str(text)
    return {w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)}


def test_vocabulary_never_sees_val_or_test_text(bbc_corpus, bbc_datamodule) -> None:
    # min_freq=1 and no size cap: had val/test text been used, every one of its words would be in.
    dm = TextClassificationDataModule.from_schema(min_freq=1, max_vocab=10**7)
    dm.setup()
    tok = dm.tokenizer
    index = {doc_id: i for i, doc_id in enumerate(bbc_corpus.ids)}
    split_words = {
        name: [words(tok, bbc_corpus.texts[index[d]]) for d in dm.split_ids[name]] for name in ("train", "val", "test")
    }
    train_words = set().union(*split_words["train"])
    held_out = Counter(w for name in ("val", "test") for doc in split_words[name] for w in doc)
    only_held_out = {w: n for w, n in held_out.items() if w not in train_words}
    assert len(only_held_out) > 100  # the corpus has plenty; the check below is not vacuous

    vocab = tok.get_vocab()
    leaked = sorted(w for w in only_held_out if w in vocab)
    assert not leaked, f"val/test-only words in the vocabulary: {leaked[:20]}"
    assert train_words <= set(vocab)  # and everything from train is there
    assert dm.vocab_size == len(train_words) + 2  # + <pad>, <unk>

    # The default data module (min_freq=2): val/test-only words that occur in several held-out
    # documents (so would pass min_freq) are absent, frequent training words present.
    default_tok = bbc_datamodule.tokenizer
    frequent_held_out = [w for w, n in only_held_out.items() if n >= 2]
    assert len(frequent_held_out) > 10
    assert not [w for w in frequent_held_out if default_tok.token_to_id(w) is not None]
    for word in ("the", "said", "government", "film"):
        assert default_tok.token_to_id(word) not in (None, UNK_ID), word
    # and they encode to <unk>
    enc = default_tok.encode(" ".join(frequent_held_out[:5]), add_special_tokens=False)
    assert set(enc.ids) == {UNK_ID}


def test_vocabulary_respects_max_vocab_and_special_ids(bbc_datamodule, small_dm) -> None:
    dm = small_dm
    assert dm.vocab_size == 500
    assert dm.tokenizer.token_to_id("<pad>") == PAD_ID and dm.tokenizer.token_to_id("<unk>") == UNK_ID
    assert bbc_datamodule.vocab_size <= 30000 and bbc_datamodule.num_classes == 5


def test_batches_are_well_formed(bbc_datamodule) -> None:
    dm = bbc_datamodule
    assert dm.trainer is None
    seen = {"train": [], "val": [], "test": []}
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for name, loader in loaders.items():
        for batch in loader:
            assert isinstance(batch, TextBatch)
            b, t = batch.ids.shape
            assert batch.mask.shape == (b, t) and batch.lengths.shape == (b,) and batch.labels.shape == (b,)
            assert t == int(batch.lengths.max()) <= dm.max_length
            assert torch.equal(batch.mask.sum(1), batch.lengths)
            assert (batch.ids[~batch.mask] == PAD_ID).all() and (batch.ids[batch.mask] != PAD_ID).all()
            assert ((batch.labels >= 0) & (batch.labels < dm.num_classes)).all()
            ds = dm.datasets[name]
            for row, i in enumerate(batch.index.tolist()):
                assert torch.equal(batch.ids[row, : ds.lengths[i]], ds.ids[i])
                assert int(batch.labels[row]) == int(ds.labels[i])
            seen[name] += batch.index.tolist()
    for name, indices in seen.items():
        assert sorted(indices) == list(range(len(dm.datasets[name]))), name


def test_truncation_to_max_length(small_dm) -> None:
    dm = small_dm
    lengths = dm.datasets["train"].lengths
    assert max(lengths) == 16 and min(lengths) >= 1
    assert dm.summary["train/truncated"] > 0.9  # BBC articles are far longer than 16 tokens


def test_state_dict_restores_the_vocabulary(bbc_datamodule) -> None:
    """What eval relies on: a checkpoint's tokenizer and labels replace a freshly fit one."""
    state = bbc_datamodule.state_dict()
    fresh = TextClassificationDataModule.from_schema(max_vocab=300)  # would fit a different vocabulary
    fresh.load_state_dict(state)
    fresh.setup()
    assert fresh.vocab_size == bbc_datamodule.vocab_size
    assert fresh.label_names == bbc_datamodule.label_names
    for name in ("train", "test"):
        assert all(
            torch.equal(a, b) for a, b in zip(fresh.datasets[name].ids, bbc_datamodule.datasets[name].ids, strict=True)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"max_length": 0}, "max_length"), ({"tokenizer": "sentencepiece"}, "tokenizer")]
)
def test_invalid_settings_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextClassificationDataModule.from_schema(**kwargs)
