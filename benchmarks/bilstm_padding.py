"""BiLSTM mechanisms under padding: examples/s for a training step (forward + backward + AdamW).

    python benchmarks/bilstm_padding.py [--device cpu|cuda] [--batches 20] [--repeats 2] [--max-length 400]

Compares, on real BBC News batches (batch 32):
  packed   pack_padded_sequence through nn.LSTM(bidirectional=True)      exact
  reverse  dense forward + reverse-within-length backward                exact
  dense    plain nn.LSTM over the padded batch (reference only)          NOT exact: the backward
           direction reads the padding first
each with length-bucketed batches and with random batches. Prints one line per setting.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from attnbench.data import TextClassificationDataModule
from attnbench.data.batching import BucketBySequenceLength, collate
from attnbench.models.encoders import BiLSTMEncoder


class DenseBiLSTM(BiLSTMEncoder):
    def forward(self, x, lengths, mask):  # type: ignore[override]
        states, _ = self.lstm(x)
        return states


def batches(dm: TextClassificationDataModule, batch_size: int, bucket: bool, n: int, seed: int = 0):
    ds = dm.datasets["train"]
    sampler = BucketBySequenceLength(ds.lengths, batch_size, shuffle=True, seed=seed, pool_batches=50 if bucket else 1)
    out = []
    for idx in sampler:
        out.append(collate([ds[i] for i in idx]))
        if len(out) == n:
            break
    return out


def bench(encoder: nn.Module, data, device: str, repeats: int = 2) -> float:
    emb = nn.Embedding(30000, 128, padding_idx=0).to(device)
    head = nn.Linear(encoder.output_size, 5).to(device)
    params = [*emb.parameters(), *encoder.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    data = [(b.ids.to(device), b.lengths.to(device), b.mask.to(device), b.labels.to(device)) for b in data]

    def step(ids, lengths, mask, labels):
        out = encoder(emb(ids), lengths, mask)
        states = out.states if hasattr(out, "states") else out
        pooled = (states * mask[..., None]).sum(1) / lengths[:, None]
        loss = nn.functional.cross_entropy(head(pooled), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(*data[0])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in data:
            step(*b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return sum(len(b[0]) for b in data) / best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2, help="timed passes over the batches; the best is kept")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=400)
    p.add_argument("--hidden-size", type=int, default=128)
    args = p.parse_args()
    torch.manual_seed(0)
    dm = TextClassificationDataModule.from_schema(max_length=args.max_length, max_vocab=30000)
    dm.setup()
    print(
        f"device={args.device} threads={torch.get_num_threads()} batch={args.batch_size} "
        f"max_length={args.max_length} hidden={args.hidden_size} batches={args.batches} repeats={args.repeats}"
    )
    auto = BiLSTMEncoder(128, hidden_size=args.hidden_size)._mode(torch.device(args.device))
    print(f"encoder.implementation=auto resolves to {auto!r} on {args.device}")
    for bucket in (True, False):
        data = batches(dm, args.batch_size, bucket, args.batches)
        pad = 1 - sum(int(b.lengths.sum()) for b in data) / sum(b.ids.numel() for b in data)
        for name, cls, impl in (
            ("packed", BiLSTMEncoder, "packed"),
            ("reverse", BiLSTMEncoder, "reverse"),
            ("dense (inexact)", DenseBiLSTM, "reverse"),
        ):
            enc = cls(128, args.hidden_size, implementation=impl).to(args.device)
            rate = bench(enc, data, args.device, repeats=args.repeats)
            print(f"bucket={bucket!s:5s} padding={pad:5.1%}  {name:16s} {rate:8.1f} examples/s")


if __name__ == "__main__":
    main()
