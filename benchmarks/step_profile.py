"""Host work per training step of the Lightning path: cProfile over ``attnbench.train.run``'s fit, per step.

    python benchmarks/step_profile.py [--epochs 3] [--top 25] [--override KEY=VALUE ...]

The model is parity.py's tiny one by default (16-d embeddings and states, 16 tokens): compute is so small
that a step is almost all host Python, as a step looks from the host when a GPU computes it. cProfile
counts calls exactly, so the calls per step and each function's share are stable on a busy machine
even when wall time is not; its own overhead inflates the absolute milliseconds (compare runs of this
script with each other, not with parity.py's timings). Prints the training steps, the profiled
milliseconds per step of the whole fit, of ``Optimizer.step`` (Lightning's closure: forward, backward,
hooks, logging) and of the checkpoint writes, then the top functions by their own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from parity import compose_config, plain_loop  # benchmarks/ is on sys.path when this script runs

from attnbench.train import run

TINY = ["model.embedding_dim=16", "encoder.hidden_size=16", "attention.hidden_size=16", "data.max_length=16"]


def calls(stats: pstats.Stats, name: str, filename_part: str = "") -> int:
    """Calls of the functions called ``name`` (in a file containing ``filename_part``)."""
    entries = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table in an undocumented dict
    return sum(v[1] for (f, _, fn), v in entries.items() if fn == name and filename_part in f)


def cumulative_s(stats: pstats.Stats, name: str, filename_part: str = "") -> float:
    """Cumulative seconds of the functions called ``name`` (in a file containing ``filename_part``)."""
    entries = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table in an undocumented dict
    return sum(v[3] for (f, _, fn), v in entries.items() if fn == name and filename_part in f)


def print_callees(stats: pstats.Stats, pattern: str) -> None:
    """What the functions whose ``file:line(name)`` matches ``pattern`` call: calls and cumulative ms."""
    entries = stats.stats  # type: ignore[attr-defined]
    for (f, line, fn), (_, _, _, _, callers) in entries.items():
        for caller, (_, ncalls, _, cum) in callers.items():
            if re.search(pattern, f"{caller[0]}:{caller[1]}({caller[2]})"):
                short = "/".join(f.split("/")[-2:])
                print(f"{caller[2]:>24s} -> {short}:{line}({fn}) calls {ncalls} cum {1e3 * cum:.1f} ms")


def profiled(fn: Callable[[], Any]) -> tuple[pstats.Stats, Any]:
    """``fn()`` under cProfile: its statistics and its result."""
    profiler = cProfile.Profile()
    profiler.enable()
    result = fn()
    profiler.disable()
    return pstats.Stats(profiler), result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--top", type=int, default=25, help="functions to list by their own time")
    p.add_argument("--callees", default=None, help="also list what functions matching this regex call")
    p.add_argument("--plain", action="store_true", help="also profile parity.py's plain loop (same batches)")
    p.add_argument("--standard", action="store_true", help="parity.py's standard model instead of the tiny one")
    p.add_argument("--override", nargs="*", default=[], help="more Hydra overrides")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = argparse.Namespace(
        epochs=args.epochs, precision="32", device="cpu", threads=args.threads, steps=None,
        override=[*([] if args.standard else TINY), *args.override],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(settings, Path(tmp) / "warm")
        run(cfg)  # warm-up: imports, data cache, allocator
        cfg.paths.output_dir = str(Path(tmp) / "profiled")
        stats, record = profiled(lambda: run(cfg))
        plain_stats = profiled(lambda: plain_loop(cfg, settings))[0] if args.plain else None
    steps = calls(stats, "backward", "torch/_tensor")
    step_s = cumulative_s(stats, "advance", "training_epoch_loop")  # a training step, hooks and data included
    opt = cumulative_s(stats, "optimizer_step", "core/module")
    ckpt = cumulative_s(stats, "_save_checkpoint", "model_checkpoint")
    print(f"training steps {steps}; train examples/s (profiled) {record['timings']['train_examples_per_s']:.0f}")
    total = stats.total_calls  # type: ignore[attr-defined]  # set by pstats, not declared
    print(
        f"lightning, per step, profiled: {1e3 * step_s / steps:.2f} ms, of which the optimizer step (closure: "
        f"forward, backward, hooks) {1e3 * opt / steps:.2f} ms; {total / steps:.0f} function calls (whole run)"
    )
    print(
        f"checkpoint writes: {calls(stats, '_save_checkpoint', 'model_checkpoint')}, {1e3 * ckpt:.1f} ms in all, "
        f"{1e3 * ckpt / args.epochs:.1f} ms per epoch"
    )
    if plain_stats is not None:
        plain_steps = calls(plain_stats, "backward", "torch/_tensor")
        plain_s = cumulative_s(plain_stats, "plain_loop", "parity")
        plain_total = plain_stats.total_calls  # type: ignore[attr-defined]
        print(
            f"plain loop, per step, profiled: {1e3 * plain_s / plain_steps:.2f} ms (sanity check included); "
            f"{plain_total / plain_steps:.0f} function calls"
        )
    stats.sort_stats("tottime").print_stats(args.top)
    if args.callees:
        print_callees(stats, args.callees)


if __name__ == "__main__":
    main()
