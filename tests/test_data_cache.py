"""The processed-data cache: hit on the second run, keyed by every processing setting, a corrupt file
rebuilt, and two processes building the same entry at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from attnbench.data import TextClassificationDataModule

from .helpers import subprocess_env
from .test_sources import make_rows


def cached_dm(data: Path, cache: Path, **kwargs) -> TextClassificationDataModule:
    settings = {"source": "local", "path": str(data), "min_freq": 1, "max_length": 16, "cache_dir": str(cache)}
    dm = TextClassificationDataModule.from_schema(**{**settings, **kwargs})
    dm.setup()
    return dm


def same_data(a: TextClassificationDataModule, b: TextClassificationDataModule) -> bool:
    return (
        a.split_ids == b.split_ids
        and a.tokenizer.to_str() == b.tokenizer.to_str()
        and all(
            all(torch.equal(x, y) for x, y in zip(a.datasets[s].ids, b.datasets[s].ids, strict=True))
            and torch.equal(a.datasets[s].labels, b.datasets[s].labels)
            for s in a.datasets
        )
    )


def test_second_run_hits_the_cache(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pd.DataFrame(make_rows()).to_csv(data, index=False)
    cache = tmp_path / "cache"
    first, second = cached_dm(data, cache), cached_dm(data, cache)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.summary["cache"] == "hit" and same_data(first, second)
    assert len(list(cache.glob("*.pt"))) == 1
    # batch-order settings share the entry; processing settings do not
    assert cached_dm(data, cache, batch_size=3, seed=9).cache_hit is True
    assert cached_dm(data, cache, max_length=4).cache_hit is False
    assert cached_dm(data, cache, tokenizer="bpe").cache_hit is False
    # an edited source file is a new entry
    pd.DataFrame(make_rows(seed=1)).to_csv(data, index=False)
    assert cached_dm(data, cache).cache_hit is False


def test_corrupt_cache_file_is_rebuilt_not_used(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pd.DataFrame(make_rows()).to_csv(data, index=False)
    cache = tmp_path / "cache"
    good = cached_dm(data, cache)
    (entry,) = cache.glob("*.pt")
    for garbage in (entry.read_bytes()[:100], b"not a torch file"):  # truncated, foreign
        entry.write_bytes(garbage)
        rebuilt = cached_dm(data, cache)
        assert rebuilt.cache_hit is False and same_data(good, rebuilt)
        assert cached_dm(data, cache).cache_hit is True


BUILD = """
import json, sys, time
from pathlib import Path
from attnbench.data import TextClassificationDataModule
data, cache, go, out = sys.argv[1:5]
while not Path(go).exists():  # start both builds at the same moment
    time.sleep(0.01)
dm = TextClassificationDataModule.from_schema(source="local", path=data, min_freq=1, max_length=16, cache_dir=cache)
dm.setup()
Path(out).write_text(json.dumps({"hit": dm.cache_hit, "tokenizer": dm.tokenizer.to_str(),
                                 "ids": [x.tolist() for x in dm.datasets["train"].ids]}))
"""


def test_two_processes_building_the_same_cache_at_once(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pd.DataFrame(make_rows(400)).to_csv(data, index=False)  # a build that takes a moment
    cache, go = tmp_path / "cache", tmp_path / "go"
    outs = [tmp_path / f"out{i}.json" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD, str(data), str(cache), str(go), str(out)],
            env=subprocess_env(tmp_path),
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    time.sleep(0.5)
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(o.read_text()) for o in outs]
    assert sorted(r["hit"] for r in results) == [False, True]  # one built it, the other waited and read it
    assert results[0]["tokenizer"] == results[1]["tokenizer"] and results[0]["ids"] == results[1]["ids"]
    assert len(list(cache.glob("*.pt"))) == 1 and not list(cache.glob("*.tmp")) and not list(cache.glob(".*.tmp"))
    assert cached_dm(data, cache).cache_hit is True
