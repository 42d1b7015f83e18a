"""MkDocs hook: the repository's committed results, study files and benchmark notes become part of the
site (``results/<study>/table.md`` renders as a page, PNGs and CSVs are copied), so the docs link to them
by their repository paths and ``mkdocs build --strict`` checks those links too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("results", "experiments")  # every file under them
SINGLE = ("benchmarks/PARITY.md", "benchmarks/GPU_CHECKS.md")


def on_files(files: Files, config: Any) -> Files:
    paths = [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
    paths += [ROOT / p for p in SINGLE if (ROOT / p).is_file()]
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        if "/.previous/" in f"/{rel}" or rel.endswith((".pyc",)):
            continue
        files.append(File(rel, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files
