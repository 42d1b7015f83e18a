"""An on-disk cache of processed data (tokenized splits + tokenizer), one file per key.

The key is a hash of everything that determines the content (see :func:`cache_key`). Writers hold a
per-key file lock and publish by atomic rename, so two jobs building the same entry at once produce
one complete file (the second waits, then reads it); readers never see a half-written file. A file
that does not load, or loads as something else, is treated as absent and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when the payload layout or the processing code changes what is stored


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hash of JSON-able ``parts`` (key order does not matter)."""
    blob = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class DataCache:
    """Entries ``<root>/<key>.pt`` (``torch.save`` of plain containers and tensors, read back with
    ``weights_only=True``), each guarded by ``<root>/<key>.lock``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def load(self, key: str) -> dict[str, Any] | None:
        """The entry, or None when it is absent or unreadable (then it is removed, to be rebuilt)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(payload, dict) or payload.get("key") != key or payload.get("version") != CACHE_VERSION:
                raise ValueError("not an attnbench data cache entry for this key")
            return payload["data"]
        except Exception as err:  # a truncated or foreign file fails in many ways; all mean: rebuild
            log.warning("data cache file %s is unreadable (%s: %s); rebuilding it", path, type(err).__name__, err)
            path.unlink(missing_ok=True)
            return None

    def get_or_build(self, key: str, build: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """``(data, hit)``: the cached entry, or ``build()``'s result, stored before returning."""
        data = self.load(key)
        if data is not None:
            return data, True
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / f"{key}.lock")):
            data = self.load(key)  # another process may have built it while we waited for the lock
            if data is not None:
                return data, True
            data = build()
            tmp = self.root / f".{key}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
            try:
                torch.save({"version": CACHE_VERSION, "key": key, "data": data}, tmp)
                os.replace(tmp, self.path(key))  # atomic on POSIX: readers see the old state or the whole file
            finally:
                tmp.unlink(missing_ok=True)
            log.info("data cache: wrote %s", self.path(key))
            return data, False
