"""The run record: ``<run_dir>/run.json``, one per run, the same shape for train and eval."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"


def environment() -> dict[str, str]:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": version("pytorch-lightning"),
        "hydra": version("hydra-core"),
        "attnbench": version("attnbench"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "cuda": torch.version.cuda or "none",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def git_sha(path: str | Path | None = None) -> str | None:
    """The commit of the code (``+dirty`` when tracked files outside ``results/`` have changes), or None
    outside git."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        # results/ holds outputs (tables a report is writing right now), not code: it does not make the code dirty
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":(exclude,top)results"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` (one rename) only when the
    block completes, so a reader (or a process killed mid-write) never sees a partial file. The
    temporary name keeps the suffix (``.bar.tmp123.png``): matplotlib picks the format from it."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def write_run_record(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``run.json``; a previous record in the same directory is kept as ``run.<n>.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_FILE
    if path.exists():
        n = 1
        while (run_dir / f"run.{n}.json").exists():
            n += 1
        try:  # a link, then one rename over run.json: a run dir never lacks its record
            os.link(path, run_dir / f"run.{n}.json")
        except OSError:
            os.replace(path, run_dir / f"run.{n}.json")
    write_json_atomic(path, record)
    return path


def read_run_record(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
