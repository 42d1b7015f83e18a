"""Training speed and peak memory of the LSTMN beside the BiLSTM, GRU and Transformer encoders.

    python benchmarks/lstmn_speed.py [--device cpu|cuda] [--lengths 100 400 800] [--batch 32]
        [--hidden 128] [--repeats 3] [--encoders bilstm lstmn transformer] [--threads N]

One training step: random embeddings [batch, T, hidden] (every position valid) → encoder (``hidden``
per direction; the Transformer: d_model = ``hidden``, 2 layers, 4 heads, ff 2 × hidden) → mean over
positions → linear head → cross-entropy → backward → AdamW. Per encoder and T:

* ``ex/s``: batch / the best step time of ``--repeats`` after one warm-up step;
* ``MB``: peak memory of the step above what was held before it (CUDA: ``max_memory_allocated``;
  CPU: the RSS high-water mark, as ``benchmarks/attention_memory.py`` measures it).

Each configuration runs in its own process. The end of the output gives each encoder's step time over
the BiLSTM's at the same T (the issue's goal: the LSTMN within 4× at T = 400).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import torch
from attention_memory import measure  # benchmarks/ is on the path when this script runs
from torch import nn

from attnbench.models.encoders import build_encoder


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 400, 800])
    p.add_argument("--encoders", nargs="+", default=["bilstm", "lstmn", "transformer"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--attention-size", type=int, default=0, help="LSTMN score size A (0: = hidden, the paper)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # one configuration as JSON: run it, print JSON
    return p.parse_args(argv)


def spec(name: str, hidden: int, attention_size: int) -> dict:
    if name == "transformer":
        return {"name": name, "hidden_size": hidden, "num_layers": 2, "num_heads": 4, "ff_size": 2 * hidden}
    if name == "lstmn" and attention_size:
        return {"name": name, "hidden_size": hidden, "attention_size": attention_size}
    return {"name": name, "hidden_size": hidden}


def worker(args: argparse.Namespace, config: dict) -> dict:
    """Time and measure one (encoder, T) in this process."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    encoder = build_encoder(spec(config["encoder"], args.hidden, args.attention_size), args.hidden).to(device)
    head = nn.Linear(encoder.output_size, 5).to(device)
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=1e-3)
    b, t = args.batch, config["length"]
    x = torch.randn(b, t, args.hidden, device=device)
    lengths = torch.full((b,), t, device=device)
    mask = torch.ones(b, t, dtype=torch.bool, device=device)
    labels = torch.randint(0, 5, (b,), device=device)

    def step() -> None:
        states = encoder(x, lengths, mask).states
        loss = nn.functional.cross_entropy(head(states.mean(1)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    ms, mb = measure(step, device, args.repeats)
    return {**config, "train_ms": ms, "examples_per_s": b / ms * 1e3, "train_mb": mb}


def run_config(args: argparse.Namespace, config: dict, argv: list[str]) -> dict:
    """One configuration in a fresh process (its own peak memory); ``error`` when it could not run."""
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--worker", json.dumps(config)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**config, "error": f"over {args.timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {**config, "error": f"failed: {tail[:80]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.worker:
        print(json.dumps(worker(args, json.loads(args.worker))))
        return
    threads = args.threads or torch.get_num_threads()
    print(
        f"device={args.device} batch={args.batch} hidden={args.hidden} lstmn attention_size="
        f"{args.attention_size or args.hidden} threads={threads} torch={torch.__version__}"
    )
    print("| encoder     |     T |   step ms |   ex/s | peak MB |")
    print("|-------------|------:|----------:|-------:|--------:|")
    results = []
    for length in args.lengths:
        for name in args.encoders:
            r = run_config(args, {"encoder": name, "length": length}, argv)
            results.append(r)
            if "error" in r:
                print(f"| {name:11s} | {length:5d} | {r['error']} |", flush=True)
            else:
                cells = f"{r['train_ms']:9.1f} | {r['examples_per_s']:6.1f} | {r['train_mb']:7.1f}"
                print(f"| {name:11s} | {length:5d} | {cells} |", flush=True)
    ok = {(r["encoder"], r["length"]): r for r in results if "error" not in r}
    for (name, length), r in ok.items():
        base = ok.get(("bilstm", length))
        if base is not None and name != "bilstm":
            print(f"{name:11s} T={length:<4d} step time / BiLSTM's: {r['train_ms'] / base['train_ms']:5.2f}×")


if __name__ == "__main__":
    main()
