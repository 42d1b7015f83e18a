"""Faithfulness analyses on CPU and on a GPU: the same tables (up to float rounding), and their cost.

``python3 benchmarks/analysis_device_check.py --out DIR [--examples 64] [--length 200]``: builds a
BiLSTM + additive and a BiLSTM + multi-head classifier (seeded, untrained, weights scaled up so outputs
are not uniform), runs every measurement on the same random inputs on ``cpu`` and on ``cuda``, and writes
``analysis_device_check.json``: per measurement the seconds on each device and the largest difference
per column between the devices.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from attnbench.analysis.adapter import explainer
from attnbench.analysis.context import Settings
from attnbench.analysis.core import Inputs
from attnbench.analysis.runner import MEASUREMENTS, analyse, build
from attnbench.models.classifier import TextClassifier

ATTENTIONS = {
    "additive": {"name": "attention", "score": "additive", "hidden_size": 128},
    "multihead": {"name": "multihead", "heads": 4, "hidden_size": 128},
}


def model(attention: dict) -> TextClassifier:
    torch.manual_seed(0)
    m = TextClassifier(5000, 4, {"name": "bilstm", "hidden_size": 128}, attention, {"mode": "last"}, embedding_dim=128)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    return m.eval()


def batches(n: int, length: int, size: int, device: str) -> list[Inputs]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for i in range(0, n, size):
        lengths = torch.randint(length // 4, length + 1, (min(size, n - i),), generator=gen)
        ids = torch.randint(2, 5000, (len(lengths), int(lengths.max())), generator=gen)
        x = Inputs(ids, lengths, index=torch.arange(i, i + len(lengths)))
        gold = (x.ids % 50 == 0) & x.mask
        out.append(Inputs(x.ids.masked_fill(~x.mask, 0).to(device), lengths.to(device), gold.to(device), x.index))
    return out


def run(attention: str, device: str, n: int, length: int) -> dict:
    e = explainer(model(ATTENTIONS[attention]).to(device))
    seconds, tables = {}, {}
    for name in MEASUREMENTS:
        extra = {"others": [explainer(model(ATTENTIONS["multihead"]).to(device))]} if name == "seed_agreement" else {}
        start = time.perf_counter()
        tables.update(analyse(e, batches(n, length, 32, device), {name: build(name, **extra)}, Settings(seed=7)))
        if device == "cuda":
            torch.cuda.synchronize()
        seconds[name] = time.perf_counter() - start
    return {"seconds": seconds, "tables": tables}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--length", type=int, default=200)
    args = parser.parse_args()
    report = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    for attention in ATTENTIONS:
        cpu = run(attention, "cpu", args.examples, args.length)
        gpu = run(attention, "cuda", args.examples, args.length)
        diffs = {}
        for name, table in cpu["tables"].items():
            other = gpu["tables"][name]
            diffs[name] = {c: float((table[c] - other[c]).abs().max()) for c in table.columns}
        report[attention] = {"cpu_s": cpu["seconds"], "cuda_s": gpu["seconds"], "max_abs_diff": diffs}
        print(attention, json.dumps(report[attention], indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "analysis_device_check.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
