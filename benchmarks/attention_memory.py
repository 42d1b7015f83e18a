"""Step time and peak memory of every attention score with ``attention.query=self``.

    python benchmarks/attention_memory.py [--device cpu|cuda] [--dtype fp32|bf16] [--lengths 100 200 400 800]
        [--batch 32] [--dim 256] [--hidden 128] [--repeats 3] [--chunk direct auto] [--scores additive concat]

One ``AttentionPooling`` (query=self, alignment soft unless ``--alignment``) over random encoder states
[batch, T, dim] (dim 256: the default BiLSTM's 2 × 128), every position valid. For each score, T and
``--chunk`` value (``attention.chunk_size``: direct = the [B, T, T, H] form of before, auto, or N):

* ``train ms``: forward + backward (gradients of the states and the parameters), best of ``--repeats``
  after one warm-up step;
* ``eval ms``: forward under ``torch.no_grad`` in eval mode, best of ``--repeats``;
* ``train MB`` / ``eval MB``: peak memory of that step above what was held before it. CUDA:
  ``torch.cuda.max_memory_allocated``. CPU: the process's RSS high-water mark (VmHWM, reset through
  /proc/self/clear_refs before each phase) minus its RSS then; tracemalloc does not see torch's
  allocations.

Every configuration runs in its own process, so one's peak cannot hide another's. A configuration whose
direct hidden layer would not fit the free memory (estimate: 3 copies) is skipped, not run into an
out-of-memory kill. ``chunk_size`` only changes additive and dot with ``score_mode=concat``; the other
scores run once (as ``-``). With ``direct`` and another chunk value, the end of the output gives the
ratios direct / other for time and memory. ``--dtype bf16`` runs the step under bf16 autocast
(``trainer.precision=bf16-mixed``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch

SCORES = ("additive", "concat", "dot", "scaled_dot", "general", "cosine", "location")
CHUNKED = ("additive", "concat")  # the scores attention.chunk_size applies to
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 200, 400, 800])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--dim", type=int, default=256, help="encoder state size (BiLSTM: 2 × its hidden size)")
    p.add_argument("--hidden", type=int, default=128, help="attention.hidden_size")
    p.add_argument("--alignment", default="soft", choices=["soft", "local_m", "local_p", "hard"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk", nargs="+", default=["direct", "auto"], help="attention.chunk_size values to compare")
    p.add_argument("--scores", nargs="+", default=list(SCORES), choices=SCORES)
    p.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: torch's default)")
    p.add_argument("--timeout", type=float, default=900, help="seconds for one configuration")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # one configuration as JSON: run it, print JSON
    return p.parse_args(argv)


def build(score: str, chunk: str, args: argparse.Namespace) -> torch.nn.Module:
    from attnbench.models.pooling import AttentionPooling

    options: dict = {"score": score}
    if score == "concat":
        options = {"score": "dot", "score_mode": "concat"}
    if score in CHUNKED:
        options["chunk_size"] = chunk
    if score == "location":
        options["max_positions"] = max(args.lengths)
    return AttentionPooling(args.dim, alignment=args.alignment, query="self", hidden_size=args.hidden, **options)


def rss_kb(field: str) -> int:
    """VmRSS / VmHWM of this process in kB (Linux), or the getrusage high-water mark elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def release_free_heap() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``); a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(step: Callable[[], None], device: torch.device, repeats: int) -> tuple[float, float]:
    """(best milliseconds, peak MB above what was held before) of ``step``; one warm-up call first."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        release_free_heap()  # else memory the last phase freed stays in RSS and hides this phase's peak
        with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets the RSS high-water mark (Linux >= 4.0)
        before = rss_kb("VmRSS") * 1024
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else rss_kb("VmHWM") * 1024
    return min(times[1:]) * 1e3, (peak - before) / 2**20


def worker(args: argparse.Namespace, config: dict) -> dict:
    """Time and measure one (score, T, chunk) in this process."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    module = build(config["score"], config["chunk"], args).to(device)
    states = torch.randn(args.batch, config["length"], args.dim, device=device)
    mask = torch.ones(args.batch, config["length"], dtype=torch.bool, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    from attnbench.models.encoders import EncoderOutput

    def train_step() -> None:
        module.zero_grad(set_to_none=True)
        x = states.detach().requires_grad_()
        with autocast:
            out = module(EncoderOutput(x, x[:, -1]), mask)
        out.vector.float().sum().backward()

    @torch.no_grad()
    def eval_step() -> None:
        with autocast:
            module(EncoderOutput(states, states[:, -1]), mask)

    module.train()
    train_ms, train_mb = measure(train_step, device, args.repeats)
    module.eval()
    eval_ms, eval_mb = measure(eval_step, device, args.repeats)
    return {**config, "train_ms": train_ms, "eval_ms": eval_ms, "train_mb": train_mb, "eval_mb": eval_mb}


def free_bytes(device: str) -> int:
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    with open("/proc/meminfo") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    return int(fields["MemAvailable"].split()[0]) * 1024


def direct_bytes(score: str, length: int, args: argparse.Namespace) -> int:
    """Three copies of the direct form's [B, T, T, width] hidden layer: the add, the tanh, its gradient."""
    width = args.hidden if score == "additive" else args.dim
    return 3 * args.batch * length * length * width * (2 if args.dtype == "bf16" else 4)


def run_config(args: argparse.Namespace, config: dict, argv: list[str]) -> dict:
    """One configuration in a fresh process (its own peak memory); ``error`` when it could not run."""
    if config["score"] in CHUNKED and config["chunk"] == "direct":
        needs = direct_bytes(config["score"], config["length"], args)
        if needs > 0.8 * free_bytes(args.device):
            return {**config, "error": f"skipped: needs ~{needs / 2**30:.0f} GB"}
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--worker", json.dumps(config)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**config, "error": f"over {args.timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {**config, "error": f"failed: {tail[:80]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(result: dict) -> str:
    head = f"| {result['score']:10s} | {result['length']:5d} | {result['chunk']:6s} |"
    if "error" in result:
        return f"{head} {result['error']} |"
    return (
        f"{head} {result['train_ms']:10.1f} | {result['eval_ms']:9.1f} |"
        f" {result['train_mb']:9.1f} | {result['eval_mb']:8.1f} |"
    )


def ratios(results: list[dict]) -> list[str]:
    """Lines "score T: direct / chunk" for time and peak memory, where both ran."""
    index = {(r["score"], r["length"], r["chunk"]): r for r in results if "error" not in r}
    lines = []
    for (score, length, chunk), r in index.items():
        direct = index.get((score, length, "direct"))
        if direct is None or chunk == "direct":
            continue
        lines.append(
            f"{score:10s} T={length:<4d} direct / chunk={chunk}: train {direct['train_ms'] / r['train_ms']:5.1f}× "
            f"faster, eval {direct['eval_ms'] / r['eval_ms']:5.1f}× faster; peak memory train "
            f"{direct['train_mb'] / max(r['train_mb'], 1):6.1f}× less, "
            f"eval {direct['eval_mb'] / max(r['eval_mb'], 1):6.1f}× less (MB below 1 count as 1)"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.worker:
        print(json.dumps(worker(args, json.loads(args.worker))))
        return
    threads = args.threads or torch.get_num_threads()
    print(
        f"device={args.device} dtype={args.dtype} batch={args.batch} dim={args.dim} hidden={args.hidden} "
        f"alignment={args.alignment} threads={threads} repeats={args.repeats} torch={torch.__version__}"
    )
    if args.device == "cuda":
        print(f"card: {torch.cuda.get_device_name()}")
    print("| score      |     T | chunk  |   train ms |   eval ms |  train MB |  eval MB |")
    print("|---|---:|---|---:|---:|---:|---:|")
    results = []
    for score in args.scores:
        for length in args.lengths:
            for chunk in args.chunk if score in CHUNKED else ["-"]:
                results.append(run_config(args, {"score": score, "length": length, "chunk": chunk}, argv))
                print(row(results[-1]), flush=True)
    for line in ratios(results):
        print(line)


if __name__ == "__main__":
    main()
