"""The seq2seq quality metrics under DDP: two gloo processes, each scoring half of the examples,
report exactly what one process scoring all of them reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from attnbench.tasks.seq2seq_metrics import SequenceMetrics

HYPS = ["abcde", "xbcd", "hello", "wor", "a", "zzzz", "reverse", "esrever"]
REFS = ["abcdf", "abcd", "hello", "world", "a", "zzz", "reverse", "reverse"]
LENGTHS = [5, 4, 5, 5, 1, 3, 7, 7]
EDGES, LABELS = [3, 5, 7], ["1-3", "4-5", "6-7"]


def _score(indices: list[int]) -> SequenceMetrics:
    metric = SequenceMetrics(EDGES, LABELS)
    metric.update(
        [list(HYPS[i]) for i in indices], [list(REFS[i]) for i in indices], torch.tensor([LENGTHS[i] for i in indices])
    )
    return metric


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        metric = _score(list(range(rank, len(HYPS), world)))  # uneven buckets per rank on purpose
        values = {k: float(v) for k, v in metric.compute().items()}  # compute() syncs the summed states
        if rank == 0:
            Path(out).write_text(json.dumps(values))
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one(tmp_path: Path) -> None:
    out = tmp_path / "ddp.json"
    port = 29500 + os.getpid() % 1000
    mp.start_processes(_worker, args=(2, port, str(out)), nprocs=2, start_method="spawn")
    single = {k: float(v) for k, v in _score(list(range(len(HYPS)))).compute().items()}
    assert json.loads(out.read_text()) == single
    assert set(single) >= {"acc", "bleu", "chrf", "token_acc", "acc@len=1-3", "bleu@len=6-7"}
