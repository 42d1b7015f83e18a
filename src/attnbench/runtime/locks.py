"""One process at a time: a run directory is trained, and a report folder written, by the process that
holds its lock.

The lock is ``fcntl.flock`` on a small file (``<run_dir>/run.lock``): the operating system releases it
when the process ends, however it ends (a kill, a crash, a node lost), so a lock left behind by a dead
process never blocks anyone, unlike a pid file. The file also names the holder (pid, host, start) so a
second process can say where the run is running. On a shared file system flock works across machines
only where the file system supports it (NFSv4, or NFSv3 with lockd; see docs/reliability.md).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
# A process that only looks (the progress display) holds a shared lock for microseconds: a try to take
# the lock retries this long before it counts the run directory as taken.
_TRY_FOR_S = 0.5


class RunLocked(RuntimeError):
    """Another live process holds the lock; ``owner`` is what it wrote in the lock file."""

    def __init__(self, path: Path, owner: dict[str, Any]) -> None:
        self.path, self.owner = path, owner
        super().__init__(
            f"{path.parent} is being trained by {describe_owner(owner)} (lock {path}); this process changed "
            "nothing there. Fix: wait for that process to end, or use another run directory (hydra.run.dir=...); "
            "on_locked=wait waits for it instead."
        )


def describe_owner(owner: dict[str, Any]) -> str:
    """``pid 123 on host node1 since 10:01:02``, from the lock file's fields (what is known of them)."""
    since = owner.get("since")
    when = f" since {time.strftime('%H:%M:%S', time.localtime(since))}" if isinstance(since, int | float) else ""
    return f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}{when}"


def read_owner(path: Path) -> dict[str, Any]:
    """The holder's fields as written in the lock file (empty while it is being written)."""
    try:
        owner = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _try_lock(fh: IO[str], mode: int, try_for_s: float) -> bool:
    deadline = time.monotonic() + try_for_s
    while True:
        try:
            fcntl.flock(fh.fileno(), mode | fcntl.LOCK_NB)
            return True
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class RunLock:
    """The exclusive lock of one run directory, held from :meth:`acquire` until :meth:`release` or the
    process's end. ``wait``: block until the holder ends instead of raising :class:`RunLocked`."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fh: IO[str] | None = None
        self.waited_for: dict[str, Any] | None = None  # the holder this process waited for, if any

    def acquire(self, wait: bool = False) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115  (held open as long as the lock is held)
        if not _try_lock(fh, fcntl.LOCK_EX, _TRY_FOR_S):
            owner = read_owner(self.path)
            if not wait:
                fh.close()
                raise RunLocked(self.path, owner)
            log.warning("waiting for %s to finish %s", describe_owner(owner), self.path.parent)
            self.waited_for = owner
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the flock
            self._fh = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(run_dir: Path) -> dict[str, Any] | None:
    """The holder's fields when a live process holds ``run_dir``'s lock, else None (no lock file, or
    one left by a process that ended). Takes a shared lock for an instant to find out."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fh = open(path)  # noqa: SIM115  (closed below; closing drops the shared lock)
    except OSError:
        return None
    with fh:
        if _try_lock(fh, fcntl.LOCK_SH, 0.0):
            return None
        return read_owner(path) or {"pid": None}


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the block, waiting for any holder:
    two reports into one folder are written one after the other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        if not _try_lock(fh, fcntl.LOCK_EX, 0.0):
            log.info("waiting for another process writing beside %s", path)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


REPORT_LOCK = ".report.lock"


def one_writer(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func(sweep_dirs, out, ...)`` holding ``out/.report.lock``: two processes writing a report
    into one folder (two invocations of one study) write it one after the other, never interleaved."""

    @wraps(func)
    def locked(*args: P.args, **kwargs: P.kwargs) -> R:
        out = Path(str(kwargs["out"] if "out" in kwargs else args[1]))
        with exclusive(out / REPORT_LOCK):
            return func(*args, **kwargs)

    return locked
