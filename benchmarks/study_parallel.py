"""Two parallel jobs on one machine against one job after another: the wall time of the same small study.

    python benchmarks/study_parallel.py [--runs-dir DIR] [--epochs N] [--max-length L]

Runs a 4-run study (BBC News, BiLSTM with and without additive attention, 2 seeds) twice
into fresh sweep directories: ``--launcher basic`` (one job at a time, torch threads = all cores) and
``--launcher joblib --jobs 2`` (torch threads = cores / 2 each), and prints both wall times and their
ratio. Run it on an idle machine: anything else on the cores distorts the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

STUDY = {
    "description": "benchmark: parallel jobs vs one after another",
    "question": "How much faster are 2 parallel jobs?",
    "overrides": ["trainer=cpu", "callbacks.early_stopping=null", "callbacks.rich_progress_bar=null", "logger=csv"],
    "seeds": [1, 2],
    "variants": {
        "plain": {"overrides": ["model.embedding_dim=64", "encoder.hidden_size=64", "attention=none"]},
        "additive": {
            "overrides": [
                "model.embedding_dim=64",
                "encoder.hidden_size=64",
                "attention=additive",
                "attention.hidden_size=64",
            ]
        },
    },
    "table": {"metrics": ["test/acc"], "baseline": "plain"},
}


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "attnbench.cli.study", *args, "--no-wandb"], cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"study failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs-dir", default=None, help="where the sweeps go (default: a temporary directory)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per run (default 4)")
    p.add_argument("--max-length", type=int, default=400, help="tokens per article (default 400)")
    args = p.parse_args()
    STUDY["overrides"] += [f"trainer.max_epochs={args.epochs}", f"data.max_length={args.max_length}"]
    base = Path(args.runs_dir or tempfile.mkdtemp(prefix="study-parallel-"))
    base.mkdir(parents=True, exist_ok=True)
    study = base / "parallel_bench.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    # warm the processed-data cache first, so neither timing pays for it
    subprocess.run(
        [
            sys.executable,
            "-m",
            "attnbench.train",
            "trainer=cpu",
            f"data.max_length={args.max_length}",
            "debug=fdr",
            "logger=none",
            f"hydra.run.dir={base / 'warm-up'}",
        ],
        cwd=base,
        capture_output=True,
    )
    results = {}
    for name, extra in (("sequential", ["--launcher", "basic"]), ("parallel", ["--launcher", "joblib", "--jobs", "2"])):
        results[name] = timed(
            [str(study), *extra, "--sweep-dir", str(base / name), "--out", str(base / f"out-{name}")], base
        )
        runs = [json.loads(p.read_text()) for p in (base / name).rglob("run.json")]
        fit = sum(r["timings"].get("fit_s", 0) for r in runs)
        print(
            f"{name:>10}: wall {results[name]:6.1f} s for {len(runs)} runs (sum of fit times {fit:.1f} s, "
            f"torch threads {runs[0]['config']['torch_threads']})",
            flush=True,
        )
    print(
        f"{args.epochs} epochs, {args.max_length} tokens; cores: {os.cpu_count()}; "
        f"parallel / sequential wall time: {results['parallel'] / results['sequential']:.2f}"
        f" (speed-up {results['sequential'] / results['parallel']:.2f}x)"
    )


if __name__ == "__main__":
    main()
