"""Training-step time with and without flushing subnormal floats (``flush_denormal``), on the CPU.

    python benchmarks/subnormal.py [--lengths 100 200 400 800] [--steps 10] [--threads 1]

A recurrent backward pass carries gradients that fade step by step; past ~150 steps they reach the
subnormal range (below 1.2e-38), where x86 arithmetic is far slower. Times the long_sequence_memory
study's BiLSTM (needle task, 32-d embeddings, 64 units, last state, batch 32) at each length and the
default BBC News model (BiLSTM 128 + additive attention, 400 tokens), each with subnormals kept and
flushed, on the same batches from the same initial weights, and says whether the weights after the
timed steps are bit-identical. One line per setting: ms per step, examples/s, the speed-up.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import parity
import torch
from omegaconf import OmegaConf
from parity import build, compose_config, train_batches  # benchmarks/ is on sys.path when this script runs
from torch import nn

from attnbench.runtime.numerics import set_numerics
from attnbench.tasks.base import build_optimizer

NEEDLE = [
    "data=needle", "data.synthetic.num_train=1000", "data.max_length=800", "data.batch_size=32",
    "model.embedding_dim=32", "encoder=bilstm", "encoder.hidden_size=64", "attention=none", "pooling=last",
]  # fmt: skip
BBC = [
    "data=bbc_news", "data.max_length=400", "data.batch_size=32", "encoder=bilstm", "encoder.hidden_size=128",
    "attention=additive", "attention.hidden_size=128", "model.embedding_dim=100",
]  # fmt: skip


def timed(overrides: list[str], flush: bool, steps: int, threads: int) -> tuple[float, str]:
    """Seconds per training step (after one warm-up step) and a digest of the weights after them."""
    settings = argparse.Namespace(
        epochs=1, precision="32", device="cpu", threads=threads, steps=None, override=overrides
    )
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(settings, Path(tmp))
        dm, model = build(cfg)
    set_numerics(OmegaConf.create({"torch_threads": threads, "flush_denormal": flush}))
    optimizer = build_optimizer(model.parameters(), model.hparams.optimizer)
    batches = list(train_batches(dm, 0, steps + 1))
    model.train()

    def step(batch) -> None:
        loss = nn.functional.cross_entropy(model.run_batch(batch).logits, batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()

    step(batches[0])
    t0 = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    per_step = (time.perf_counter() - t0) / (len(batches) - 1)
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    return per_step, digest[:16]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", type=int, nargs="*", default=[100, 200, 400, 800])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    parity.OVERRIDES = ["logger=csv", "test=false"]  # these settings alone, not parity's model
    cases = [(f"needle BiLSTM last state, L={n}", [*NEEDLE, f"data.synthetic.length={n}"]) for n in args.lengths]
    cases.append(("BBC News BiLSTM 128 + additive, 400 tokens", BBC))
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} timed steps of batch 32")
    for name, overrides in cases:
        kept, kept_digest = timed(overrides, False, args.steps, args.threads)
        flushed, flushed_digest = timed(overrides, True, args.steps, args.threads)
        same = "bit-identical" if kept_digest == flushed_digest else "DIFFERENT"
        print(
            f"{name:44s} kept {1e3 * kept:7.1f} ms ({32 / kept:6.0f} ex/s)  flushed {1e3 * flushed:7.1f} ms "
            f"({32 / flushed:6.0f} ex/s)  {kept / flushed:4.1f}x  weights {same}",
            flush=True,
        )
    set_numerics(OmegaConf.create({"flush_denormal": True}))


if __name__ == "__main__":
    main()
