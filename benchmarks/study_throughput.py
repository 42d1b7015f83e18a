"""Runs per hour of a small study with K = 1, 2, 4, 8 runs per device (the device pool, docs/gpu-nodes.md).

    python benchmarks/study_throughput.py [--trainer gpu|cpu] [--devices 0] [--k 1 2 4 8] [--runs 8]
                                          [--epochs 2] [--override K=V ...] [--runs-dir DIR] [--out FILE]

The study is the demo's model (BBC News, 400 tokens, 128-d embeddings, BiLSTM 128 units per direction,
additive attention) over ``--runs`` seeds, run once per K by ``attnbench-study --launcher joblib
--devices D --runs-per-device K`` (jobs = devices × K) into a fresh sweep directory. For each K it prints
the wall time, runs per hour, the ratio to K = 1, and the most runs that ever held one device at once
(read back from the runs' ``placement`` and start/end times: never above K). The processed-data cache is
warmed first, so no K pays for it. On a machine without GPUs (``--trainer cpu``) the runs share the
cores instead: the figure is then process parallelism, not GPU packing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

MODEL = [
    "data=bbc_news", "data.max_length=400", "encoder=bilstm", "encoder.hidden_size=128", "model.embedding_dim=128",
    "attention=additive", "callbacks.early_stopping=null", "callbacks.rich_progress_bar=null", "logger=csv",
]  # fmt: skip


def study_file(base: Path, args: argparse.Namespace) -> Path:
    study = {
        "description": "benchmark: the demo's model, runs per hour with K runs per device",
        "question": "How many more runs per hour do K runs per device give?",
        "overrides": [*MODEL, f"trainer={args.trainer}", f"trainer.max_epochs={args.epochs}", *args.override],
        "seeds": list(range(1, args.runs + 1)),
        "variants": {"additive": {"label": "BiLSTM + additive attention", "overrides": []}},
        "table": {"metrics": ["test/acc"]},
    }
    path = base / "study_throughput.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most runs that held one device at the same moment (from placement and start/end times)."""
    events = []
    for r in runs:
        for device in (r.get("placement") or {}).get("devices", []):
            events += [(r["started_at"], 1, device), (r["finished_at"], -1, device)]
    held: dict[int, int] = {}
    most = 0
    for _, change, device in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at one time
        held[device] = held.get(device, 0) + change
        most = max(most, held[device])
    return most


def run_k(study: Path, base: Path, args: argparse.Namespace, k: int) -> dict[str, Any]:
    sweep = base / f"k{k}"
    command = [sys.executable, "-m", "attnbench.cli.study", str(study), "--launcher", "joblib"]
    command += ["--devices", args.devices, "--runs-per-device", str(k), "--sweep-dir", str(sweep)]
    command += ["--out", str(base / f"out-k{k}"), "--no-wandb", "--quiet"]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=base, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"K={k}: the study failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    runs = [json.loads(p.read_text()) for p in sweep.rglob("run.json")]
    fit = sum(r["timings"].get("fit_s", 0.0) for r in runs)
    return {"k": k, "runs": len(runs), "wall_s": wall, "runs_per_hour": 3600 * len(runs) / wall, "fit_s": fit,
            "most_at_once": most_at_once(runs), "gpu": runs[0]["env"].get("gpu") if runs else None}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trainer", default="gpu", choices=["gpu", "cpu"])
    p.add_argument("--devices", default="0", help="device ids for the pool (default 0: one device)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8], help="runs per device to compare")
    p.add_argument("--runs", type=int, default=8, help="runs in the study (seeds; default 8)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    p.add_argument("--override", nargs="*", default=[], help="more Hydra overrides for every run")
    p.add_argument("--runs-dir", default=None, help="where the sweeps go (default: a temporary directory)")
    p.add_argument("--out", default=None, help="also write the results here as JSON")
    args = p.parse_args()
    base = Path(args.runs_dir or tempfile.mkdtemp(prefix="study-throughput-"))
    base.mkdir(parents=True, exist_ok=True)
    study = study_file(base, args)
    warm = [sys.executable, "-m", "attnbench.train", "data=bbc_news", "data.max_length=400", "trainer=cpu"]
    subprocess.run([*warm, "debug=fdr", "logger=none", f"hydra.run.dir={base / 'warm-up'}"], cwd=base, check=True)
    results: list[dict[str, Any]] = []
    for k in args.k:
        results.append(run_k(study, base, args, k))
        r = results[-1]
        reference = next((x for x in results if x["k"] == 1), results[0])  # K=1 once it ran
        print(
            f"K={k}: {r['runs']} runs in {r['wall_s']:.1f} s = {r['runs_per_hour']:.0f} runs/h "
            f"({r['runs_per_hour'] / reference['runs_per_hour']:.2f}x K={reference['k']}); "
            f"at most {r['most_at_once']} on one device; sum of fit times {r['fit_s']:.1f} s",
            flush=True,
        )
    print(f"trainer={args.trainer} devices={args.devices} epochs={args.epochs} gpu={results[0]['gpu']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
