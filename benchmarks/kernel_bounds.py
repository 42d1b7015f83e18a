"""What bounds the two CPU goals of the performance issue, measured on the kernels alone.

    python benchmarks/kernel_bounds.py [--threads 2] [--batches 32 128] [--skip-tanh]

1. *The LSTM kernel* (parity.py's FLOP/s goal): a bare ``nn.LSTM(100, 128, bidirectional=True)``
   forward + backward on padded [B, 400, 100] batches (no reversal, no model around it), its FLOP/s
   (parity.py's count: 2·4·H·(I+H) per token per direction, ×3 for forward + backward) as a share of a
   1024² matmul's FLOP/s measured in the same process; and the one [B×128]·[128×512] product the kernel
   runs per time step, alone. If the bare kernel sits near parity.py's figure, the model code is not
   what keeps the encoder below the goal.
2. *The tanh floor* (attention_memory.py's speed goal for additive ``query=self``): a training step of
   :class:`~attnbench.models.attention.chunked.ChunkedTanhScores` must evaluate tanh over the whole
   [B, T, T, H] hidden layer twice (forward, and again in the backward pass, which recomputes it so as
   not to keep it). This times one ``add`` + ``tanh_`` pass over that layer block by block, with the
   same 32 MB blocks, so the step time can be set against two of them.
"""

from __future__ import annotations

import argparse
import time

import torch

from attnbench.models.attention.chunked import BUDGET_BYTES, ChunkedTanhScores, chunk_rows


def matmul_peak(reps: int = 30, size: int = 1024) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - start)


def best_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def lstm_bound(batch: int, peak: float, repeats: int, steps: int = 400, inp: int = 100, hidden: int = 128) -> None:
    lstm = torch.nn.LSTM(inp, hidden, batch_first=True, bidirectional=True)
    x = torch.randn(batch, steps, inp, requires_grad=True)

    def step() -> None:
        out, _ = lstm(x)
        out.sum().backward()

    seconds = best_time(step, repeats)
    flops = 3 * 2 * (2 * 4 * hidden * (inp + hidden)) * batch * steps
    h, w = torch.randn(batch, hidden), torch.randn(hidden, 4 * hidden)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        h @ w
    gemm = 2 * batch * hidden * 4 * hidden * n / (time.perf_counter() - start)
    print(
        f"LSTM B={batch:<4d} bare bidirectional fwd+bwd [B,{steps},{inp}]→{hidden}: {seconds * 1e3:7.1f} ms, "
        f"{flops / seconds / 1e9:6.1f} GFLOP/s = {100 * flops / seconds / peak:4.1f}% of peak; "
        f"its per-step [{batch}×{hidden}]·[{hidden}×{4 * hidden}] alone: {gemm / 1e9:6.1f} GFLOP/s "
        f"= {100 * gemm / peak:4.1f}%"
    )


def tanh_floor(batch: int, length: int, hidden: int, repeats: int) -> None:
    a = torch.randn(batch, length, hidden)
    c = torch.randn(batch, length, hidden)
    v = torch.randn(hidden)
    rows = chunk_rows("auto", batch, length, hidden, 4, "cpu")
    assert rows is not None
    buffer = torch.empty(batch * rows * length * hidden)

    def one_pass() -> None:
        for start in range(0, length, rows):
            block = a[:, start : start + rows]
            out = buffer[: block.numel() * length].view(batch, block.shape[1], length, hidden)
            torch.add(block[:, :, None, :], c[:, None, :, :], out=out).tanh_()

    a_grad, c_grad, v_grad = (t.clone().requires_grad_() for t in (a, c, v))

    def train_step() -> None:
        ChunkedTanhScores.apply(a_grad, c_grad, v_grad, rows).sum().backward()

    pass_s = best_time(one_pass, repeats)
    step_s = best_time(train_step, repeats)
    elements = batch * length * length * hidden
    print(
        f"tanh floor B={batch} T={length} H={hidden} ({elements / 1e6:.0f} M elements, blocks of {rows} queries"
        f" = {BUDGET_BYTES['cpu'] >> 20} MB): one add+tanh pass {pass_s * 1e3:.1f} ms "
        f"({elements / pass_s / 1e9:.2f} G elements/s); chunked training step {step_s * 1e3:.1f} ms "
        f"= {step_s / pass_s:.2f} passes (2 are tanh; the rest: v-products, tanh_backward, two sums)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tanh", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {args.threads} threads, matmul peak (1024², fp32) {peak / 1e9:.1f} GFLOP/s")
    for batch in args.batches:
        lstm_bound(batch, peak, args.repeats)
    if not args.skip_tanh:
        tanh_floor(32, 400, 128, args.repeats)


if __name__ == "__main__":
    main()
