"""Text processing on BBC News, cold vs from the processed-data cache; padding with and without bucketing.

    python benchmarks/data_cache.py [--repeats 3] [--batch-size 32] [--max-length 400]

"cold" is ``setup()`` with an empty cache directory (read the 2,225 files, split, fit the tokenizer,
encode, write the cache); "cache" is ``setup()`` of a fresh DataModule reading that entry. The padding
ratio is the share of padded training-batch tensors that is padding over one epoch (batch order of
seed 0). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time

from attnbench.data import TextClassificationDataModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=400)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the data summary line would interleave with the figures

    def setup(cache_dir: str) -> tuple[float, TextClassificationDataModule]:
        dm = TextClassificationDataModule.from_schema(
            cache_dir=cache_dir, batch_size=args.batch_size, max_length=args.max_length
        )
        t0 = time.perf_counter()
        dm.setup()
        return time.perf_counter() - t0, dm

    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            seconds, dm = setup(cache_dir)
            assert dm.cache_hit is False
            cold.append(seconds)
            seconds, dm = setup(cache_dir)
            assert dm.cache_hit is True
            warm.append(seconds)
    out = sys.stdout
    c, w = statistics.median(cold), statistics.median(warm)
    out.write(
        f"BBC News text processing (median of {args.repeats}): cold {c:.3f} s, from cache {w:.3f} s "
        f"({c / w:.0f}x faster)\n"
    )
    s = dm.summary
    out.write(
        f"padding ratio, train, batch {args.batch_size}, max_length {args.max_length}: bucketed "
        f"{s['train/padding_bucketed']:.3f}, random batches {s['train/padding_random']:.3f}\n"
    )


if __name__ == "__main__":
    main()
