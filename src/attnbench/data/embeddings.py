"""Pretrained word vectors from a local GloVe or word2vec text file, aligned to a tokenizer's vocabulary."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from attnbench.data.corpus import DataError
from attnbench.data.tokenize import PAD_ID

log = logging.getLogger(__name__)


def load_vectors(path: str | Path, vocab: dict[str, int], lowercase: bool, seed: int = 0) -> tuple[torch.Tensor, float]:
    """The embedding matrix [V, D] for ``vocab`` (token → id) and the coverage: the share of the
    vocabulary (special tokens aside) found in the file.

    The file has one ``word x1 ... xD`` line per word; a first line ``<count> <D>`` (word2vec text
    format) is skipped. Words missing from the file get random vectors with the found vectors' scale
    (seeded, so runs agree); the padding row is zero. With ``lowercase`` the file's words are lowercased
    to match the tokenizer (the first occurrence wins).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"data.embeddings_path={str(path)!r}: no such file. Fix: point it at a GloVe/word2vec .txt file "
            "or set data.embeddings_path=null."
        )
    found: dict[int, np.ndarray] = {}
    dim = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            parts = line.rstrip().split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise DataError(
                    f"{path}, line {line_no}: {len(parts) - 1} numbers, but earlier lines have {dim}. "
                    "Fix: use a GloVe/word2vec text file with one vector per line."
                )
            word = parts[0].lower() if lowercase else parts[0]
            idx = vocab.get(word)
            if idx is not None and idx not in found:
                try:
                    found[idx] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path}, line {line_no}: not a word followed by numbers.") from None
    if dim is None:
        raise DataError(f"data.embeddings_path={str(path)!r} holds no vectors.")
    specials = 2  # <pad>, <unk>
    size = max(vocab.values()) + 1
    vectors = np.stack(list(found.values())) if found else np.zeros((1, dim), np.float32)
    scale = float(vectors.std()) or 0.1
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, scale, size=(size, dim)).astype(np.float32)
    for idx, vec in found.items():
        matrix[idx] = vec
    matrix[PAD_ID] = 0.0
    coverage = len([i for i in found if i >= specials]) / max(size - specials, 1)
    log.info("pretrained vectors %s: %d-dimensional, %.1f%% of the vocabulary found", path, dim, 100 * coverage)
    return torch.from_numpy(matrix), coverage
