"""The full training path against a hand-written PyTorch loop: the same model, the same batches.

    python benchmarks/parity.py [--device cpu|cuda] [--precision 32|bf16-mixed] [--epochs 1]
                                [--steps N] [--threads 2] [--repeats 2] [--profile]

One process. BBC News, 100-d embeddings, BiLSTM 128 units per direction (exact in-length reversal),
additive attention with a learned query, batch 32, 400 tokens, length-bucketed, AdamW, clipping at 1.0
(the default trainer's), trained

  plain      by a loop over the project's own TextClassifier and DataModule (seeded identically);
  lightning  by ``attnbench.train.run`` exactly as a default run configures it: callbacks (checkpoints,
             early stopping, rich progress bar), logging (CSV instead of W&B), validation each epoch.

Both run two validation batches untimed first (Lightning's sanity check warms the kernels up for its
run; the plain loop does the same). The two alternate ``--repeats`` times so load on the machine hits
both. The rate of each is the examples trained over the seconds of the training loop (the lightning
rate is run.json's ``timings/train_examples_per_s``: validation loops excluded, checkpointing, logging
and the progress bar included); the best repeat of each is kept and their ratio printed.

FLOPs. The BiLSTM's gates cost 2·4·H·(I+H) FLOPs per token per direction (two matmuls of [I+H] → [4H]);
training is counted as 3× the forward (the backward computes the gradients of inputs and weights).
Only non-padding tokens count (the useful work). The encoder's FLOP/s is timed on its own
(forward + backward of the encoder alone over the same batches) and set against the peak of a square
matmul (``--matmul-size``, same dtype as the run) measured in this process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torch import nn
from torch.profiler import ProfilerActivity, profile

from attnbench.config import config_dir, register_configs
from attnbench.data.batching import TextBatch
from attnbench.tasks.base import build_optimizer
from attnbench.train import run

OVERRIDES = [
    "data=bbc_news", "data.max_length=400", "data.batch_size=32", "encoder=bilstm", "encoder.hidden_size=128",
    "attention=additive", "attention.hidden_size=128", "model.embedding_dim=100", "logger=csv", "test=false",
]  # fmt: skip


def compose_config(args: argparse.Namespace, output_dir: Path) -> DictConfig:
    """The run's config as ``attnbench-train`` composes it, with this benchmark's settings."""
    register_configs()
    overrides = [
        *OVERRIDES, f"trainer.max_epochs={args.epochs}", f"trainer.precision={args.precision}",
        f"trainer.accelerator={args.device}", "trainer.devices=1", f"torch_threads={args.threads}",
        *([f"trainer.limit_train_batches={args.steps}"] if args.steps else []), *args.override,
    ]  # fmt: skip
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg


def build(cfg: DictConfig) -> tuple[Any, nn.Module]:
    """The DataModule (set up) and the task, initialised as ``run`` initialises them (same seed)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    model = instantiate(cfg.model, vocab_size=dm.vocab_size, num_classes=dm.num_classes, **dm.model_kwargs())
    return dm, model


def train_batches(dm: Any, epoch: int, steps: int | None) -> Iterator[TextBatch]:
    """The training batches of ``epoch`` in the order Lightning sees them (the sampler's epoch set)."""
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    for i, batch in enumerate(loader):
        if steps and i >= steps:
            return
        yield batch


def to_device(batch: TextBatch, device: torch.device) -> TextBatch:
    for name in ("ids", "lengths", "mask", "labels", "index"):
        setattr(batch, name, getattr(batch, name).to(device, non_blocking=True))
    return batch


def autocast(args: argparse.Namespace) -> Any:
    if args.precision == "bf16-mixed":
        return torch.autocast(args.device, dtype=torch.bfloat16)
    return nullcontext()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def sanity_check(model: nn.Module, dm: Any, device: torch.device, args: argparse.Namespace) -> None:
    """Untimed, as Lightning's sanity check before its training loop: two validation batches forward."""
    model.eval()
    with torch.no_grad(), autocast(args):
        for i, batch in enumerate(dm.val_dataloader()):
            if i == 2:
                break
            model.run_batch(to_device(batch, device))
    model.train()


def plain_loop(cfg: DictConfig, args: argparse.Namespace) -> tuple[float, int, int]:
    """Train by hand; returns (seconds, examples, non-padding tokens) of the training loop."""
    dm, model = build(cfg)
    device = torch.device(args.device)
    model.to(device).train()
    optimizer = build_optimizer(model.parameters(), model.hparams.optimizer)
    clip = cfg.trainer.gradient_clip_val
    sanity_check(model, dm, device, args)
    examples = tokens = 0
    sync(args.device)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        for batch in train_batches(dm, epoch, args.steps):
            examples, tokens = examples + len(batch), tokens + int(batch.lengths.sum())
            batch = to_device(batch, device)
            with autocast(args):
                out = model.run_batch(batch)
                loss = nn.functional.cross_entropy(out.logits, batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
    sync(args.device)
    return time.perf_counter() - t0, examples, tokens


def lightning_run(cfg: DictConfig) -> tuple[float, float]:
    """A default run; returns (train examples/s, train seconds) from its run.json timings."""
    record = run(cfg)
    if record["status"] != "completed":
        raise RuntimeError(record.get("error"))
    timings = record["timings"]
    return timings["train_examples_per_s"], timings["train_s"]


def encoder_flops_per_token(cfg: DictConfig) -> float:
    """Training FLOPs of the BiLSTM per non-padding token: 3 × 2 directions × 2·4·H·(I+H)."""
    h, i = cfg.encoder.hidden_size, cfg.model.embedding_dim
    return 3 * 2 * (2 * 4 * h * (i + h))


def encoder_seconds(cfg: DictConfig, args: argparse.Namespace) -> tuple[float, int]:
    """Forward + backward of the encoder alone over one epoch's batches: (seconds, tokens)."""
    dm, model = build(cfg)
    device = torch.device(args.device)
    encoder, embedding = model.model.encoder.to(device).train(), model.model.embedding.to(device)
    batches = [to_device(b, device) for b in train_batches(dm, 0, args.steps)]
    inputs = [embedding(b.ids).detach().requires_grad_() for b in batches]
    tokens = sum(int(b.lengths.sum()) for b in batches)
    sync(args.device)
    t0 = time.perf_counter()
    for x, b in zip(inputs, batches, strict=True):
        with autocast(args):
            states = encoder(x, b.lengths, b.mask).states
        states.float().sum().backward()
    sync(args.device)
    return time.perf_counter() - t0, tokens


def matmul_peak(args: argparse.Namespace) -> float:
    """FLOP/s of the best of several square matmuls of ``--matmul-size`` in the run's compute dtype."""
    n = args.matmul_size
    dtype = torch.bfloat16 if args.precision == "bf16-mixed" else torch.float32
    a = torch.randn(n, n, device=args.device, dtype=dtype)
    b = torch.randn(n, n, device=args.device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        sync(args.device)
        t0 = time.perf_counter()
        for _ in range(args.matmul_reps):
            a @ b
        sync(args.device)
        best = min(best, (time.perf_counter() - t0) / args.matmul_reps)
    return 2 * n**3 / best


def profile_both(cfg: DictConfig, args: argparse.Namespace, out_dir: Path) -> None:
    """torch.profiler over each path; prints the top entries by self CPU time."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    for name, fn in (("plain", lambda: plain_loop(cfg, args)), ("lightning", lambda: lightning_run(cfg))):
        with open_dict(cfg):
            cfg.paths.output_dir = str(out_dir / f"profile_{name}")
        with profile(activities=activities) as prof:
            fn()
        print(f"\n== profile: {name} (top {args.profile} by self CPU time) ==")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["32", "bf16-mixed"], default="32")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="training batches per epoch (default: all 56)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (both paths)")
    p.add_argument("--repeats", type=int, default=2, help="alternating plain/lightning pairs; the best of each")
    p.add_argument("--matmul-size", type=int, default=None, help="default: 1024 on cpu, 8192 on cuda")
    p.add_argument("--matmul-reps", type=int, default=10)
    p.add_argument("--override", nargs="*", default=[], help="more Hydra overrides (both paths' config)")
    p.add_argument("--profile", type=int, default=0, help="also profile each path once; print this many entries")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    args.matmul_size = args.matmul_size or (8192 if args.device == "cuda" else 1024)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(args, Path(tmp) / "run0")
        plain_rates, lightning_rates = [], []
        for r in range(args.repeats):
            for path in ("plain", "lightning") if r % 2 == 0 else ("lightning", "plain"):
                if path == "plain":
                    seconds, examples, _ = plain_loop(cfg, args)
                    plain_rates.append(examples / seconds)
                else:
                    with open_dict(cfg):
                        cfg.paths.output_dir = str(Path(tmp) / f"run{r}")
                    lightning_rates.append(lightning_run(cfg)[0])
                rate = (plain_rates if path == "plain" else lightning_rates)[-1]
                print(f"repeat {r} {path:9s} {rate:9.1f} examples/s", flush=True)
        enc_s, enc_tokens = encoder_seconds(cfg, args)
        peak = matmul_peak(args)
        if args.profile:
            profile_both(cfg, args, Path(tmp))
    torch.set_num_threads(args.threads)  # run() sets torch_threads too; the same number
    plain, lightning = max(plain_rates), max(lightning_rates)
    achieved = encoder_flops_per_token(cfg) * enc_tokens / enc_s
    print(
        f"device={args.device} precision={args.precision} threads={args.threads} epochs={args.epochs} "
        f"steps={args.steps or 'all'} repeats={args.repeats}\n"
        f"plain loop   {plain:9.1f} examples/s (best; all: {', '.join(f'{x:.1f}' for x in plain_rates)})\n"
        f"lightning    {lightning:9.1f} examples/s (best; all: {', '.join(f'{x:.1f}' for x in lightning_rates)})\n"
        f"ratio        {lightning / plain:9.3f} (lightning / plain)\n"
        f"matmul peak  {peak / 1e9:9.1f} GFLOP/s ({args.matmul_size}^2, {args.precision})\n"
        f"BiLSTM train {achieved / 1e9:9.1f} GFLOP/s = {achieved / peak:.1%} of the matmul peak "
        f"({encoder_flops_per_token(cfg) / 1e6:.2f} MFLOP per token, {enc_tokens} tokens, {enc_s:.2f} s)"
    )


if __name__ == "__main__":
    main()
