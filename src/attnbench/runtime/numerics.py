"""The process's numeric settings: torch's CPU threads and the CPU's handling of subnormal floats."""

from __future__ import annotations

from typing import Any

import torch


def set_numerics(cfg: Any) -> dict[str, Any]:
    """Apply ``torch_threads`` (null: torch's default) and ``flush_denormal``; returns the settings in force.

    ``flush_denormal=true`` flushes subnormal floats (magnitudes below 1.2e-38) to zero on the CPU
    (``torch.set_flush_denormal``: x86's FTZ/DAZ). A recurrent backward pass carries gradients that fade
    step by step; past ~150 steps they reach the subnormal range, where x86 arithmetic runs ~100x slower
    per operation, and a BiLSTM's training step at 200 tokens took 10x the time of one at 100 tokens
    (``benchmarks/subnormal.py``). A subnormal is too small to move a float32 weight, so the trained
    weights come out bit-identical (tested): the setting is left out of the config hash like the thread
    count. ``flush_denormal`` in the result is False where the CPU has no such mode.
    """
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    flush = bool(cfg.get("flush_denormal", True))
    supported = torch.set_flush_denormal(flush)
    return {"torch_threads": torch.get_num_threads(), "flush_denormal": flush and supported}
