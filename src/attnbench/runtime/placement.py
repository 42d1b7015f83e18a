"""The device pool: local parallel runs share a node's devices, K runs per device at most.

A pool is a directory of lock files, one per slot (``device<d>.slot<k>.lock``, K slots per device). A run
takes a free slot when it starts by holding an OS lock (``flock``) on that slot's file, and gives it back
when it ends; a run that fails or is killed gives it back too, because the OS drops the locks of a dead
process. Choosing slots happens under one pool-wide lock (``pool.lock``), so two runs starting at once
never pick the same slot; a run picks the devices with the most free slots (runs spread over the devices
before they pack). A DDP run with ``trainer.devices=k`` takes one slot on each of k devices.

Before CUDA starts in the run's process, ``CUDA_VISIBLE_DEVICES`` becomes the run's devices, so the
Trainer's ``devices=1`` (or ``k``) means the slot's device(s); DDP ranks inherit the variable. On a
machine without GPUs the slots are taken and recorded all the same (the variable is set, the run trains
on the CPU), which is how the tests check the pool. Launchers that place runs themselves (SLURM's gres,
Ray's ``num_gpus``) need no pool: it is off unless ``placement.devices`` is set.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

log = logging.getLogger(__name__)

CUDA_ENV = "CUDA_VISIBLE_DEVICES"
POOL_DIR_NAME = ".device_pool"  # under the sweep directory, unless placement.pool_dir says otherwise
# CUDA_VISIBLE_DEVICES as the process was given it, kept while a run holds its slot, and for good once
# CUDA started (the worker's later runs find the pool's value in CUDA_VISIBLE_DEVICES; ids index this one)
GIVEN_ENV = "ATTNBENCH_GIVEN_CUDA_VISIBLE_DEVICES"


class PlacementError(ValueError):
    """A placement setting that cannot work; the message names the config key and the fix."""


@dataclass(frozen=True)
class Slot:
    """Slot ``index`` (0..K-1) of device ``device``."""

    device: int
    index: int

    def file_name(self) -> str:
        return f"device{self.device}.slot{self.index}.lock"


def _try_lock(path: Path) -> IO[str] | None:
    """The open file holding an exclusive lock on ``path``, or None when another process holds it."""
    fh = open(path, "a+")  # noqa: SIM115 (the lock lives as long as the file stays open)
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


class Lease:
    """Slots held by this process until :meth:`release` (or its death)."""

    def __init__(self, slots: list[Slot], files: list[IO[str]]) -> None:
        self.slots = slots
        self._files = files

    @property
    def devices(self) -> list[int]:
        return [s.device for s in self.slots]

    def release(self) -> None:
        for fh in self._files:
            fh.close()  # closing the file drops its lock
        self._files = []

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class DevicePool:
    """``runs_per_device`` slots on each of ``devices``, kept as lock files in ``pool_dir``."""

    def __init__(self, pool_dir: Path, devices: Sequence[int], runs_per_device: int) -> None:
        if not devices:
            raise PlacementError("placement.devices is empty: give the device ids, e.g. placement.devices=[0,1]")
        if len(set(devices)) != len(devices):
            raise PlacementError(f"placement.devices={list(devices)} names a device twice: list each once")
        if runs_per_device < 1:
            raise PlacementError(f"placement.runs_per_device={runs_per_device}: give 1 or more")
        self.pool_dir = Path(pool_dir)
        self.devices = list(devices)
        self.runs_per_device = runs_per_device
        self.pool_dir.mkdir(parents=True, exist_ok=True)

    def slots(self, device: int) -> list[Slot]:
        return [Slot(device, k) for k in range(self.runs_per_device)]

    @contextmanager
    def _choosing(self) -> Iterator[None]:
        """The pool-wide lock: one process at a time looks at the slots and picks some."""
        with open(self.pool_dir / "pool.lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def _try_acquire(self, count: int, allowed: Sequence[int]) -> Lease | None:
        """Under the pool lock: one free slot on each of the ``count`` least busy ``allowed`` devices, or None."""
        with self._choosing():
            free: dict[Slot, IO[str]] = {}
            for device in allowed:
                for slot in self.slots(device):
                    fh = _try_lock(self.pool_dir / slot.file_name())
                    if fh is not None:
                        free[slot] = fh
            by_device: dict[int, list[Slot]] = {}
            for slot in free:
                by_device.setdefault(slot.device, []).append(slot)
            # most free slots first (spread before packing); ties keep the order of placement.devices
            ranked = sorted(by_device, key=lambda d: (-len(by_device[d]), self.devices.index(d)))
            chosen = [by_device[d][0] for d in ranked[:count]] if len(ranked) >= count else []
            for slot, fh in free.items():
                if slot not in chosen:
                    fh.close()
            if not chosen:
                return None
            files = [free[s] for s in chosen]
            for fh in files:  # who holds it, for a person looking at the pool
                fh.truncate(0)
                fh.write(f"{socket.gethostname()} pid {os.getpid()}\n")
                fh.flush()
            return Lease(chosen, files)

    def acquire(self, count: int = 1, allowed: Sequence[int] | None = None, poll_s: float = 0.2) -> Lease:
        """Wait until ``count`` devices (of ``allowed``, default all) each have a free slot; take one on each."""
        allowed = self.devices if allowed is None else [d for d in self.devices if d in allowed]
        if count > len(allowed):
            raise PlacementError(
                f"the run needs {count} devices (trainer.devices={count}) but can use {len(allowed)} of "
                f"placement.devices={self.devices} (a process where CUDA started keeps its devices): give "
                "more devices, lower trainer.devices, or use a launcher that starts a process per run"
            )
        waited = False
        while True:
            lease = self._try_acquire(count, allowed)
            if lease is not None:
                return lease
            if not waited:
                log.info("device pool %s: every slot is taken; waiting for one", self.pool_dir)
                waited = True
            time.sleep(poll_s)


def parse_devices(spec: Any, key: str = "placement.devices") -> list[int] | None:
    """``null`` → None (no pool); ``all`` → every visible GPU; ``[0,1,3]`` or ``"0,1,3"`` → that list."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec.strip() == "all":
            count = torch.cuda.device_count()  # asks NVML where it can: CUDA stays uninitialised
            if count == 0:
                raise PlacementError(f"{key}=all but no GPU is visible: give device ids, e.g. {key}=[0,1]")
            return list(range(count))
        spec = [part for part in spec.split(",") if part.strip()]
    try:
        return [int(d) for d in spec]
    except (TypeError, ValueError):
        raise PlacementError(f"{key}={spec!r}: give device ids, e.g. {key}=[0,1,3], or all") from None


def slots_needed(devices: Any) -> int:
    """Slots a run with ``trainer.devices=devices`` takes: k for an int k, 1 for ``auto``."""
    if isinstance(devices, bool):
        raise PlacementError(f"trainer.devices={devices!r} with the device pool: give a count (1, 2, ...)")
    if isinstance(devices, int) or (isinstance(devices, str) and devices.isdigit()):
        return max(1, int(devices))  # -1 ("every device") counts as one: the pool decides
    if isinstance(devices, str):
        return 1
    raise PlacementError(
        f"trainer.devices={list(devices)} names devices, but the device pool (placement.devices) chooses "
        f"them: give trainer.devices={len(devices)} instead"
    )


def pool_dir_of(cfg: DictConfig) -> Path:
    """``placement.pool_dir``, else ``<hydra sweep dir>/.device_pool`` in a multirun and
    ``<paths.log_dir>/.device_pool`` in a single run (every run of a sweep shares the sweep's pool)."""
    placement = cfg.get("placement") or {}
    if placement.get("pool_dir"):
        return Path(placement["pool_dir"])
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        if str(hc.mode) == "RunMode.MULTIRUN":
            return Path(hc.sweep.dir) / POOL_DIR_NAME
    return Path(cfg.paths.log_dir) / POOL_DIR_NAME


@contextmanager
def place_run(cfg: DictConfig, rank: int = 0) -> Iterator[dict[str, Any] | None]:
    """Hold this run's slot(s) while the block runs; yields the ``placement`` of ``run.json`` (None
    when ``placement.devices`` is unset, or in a DDP rank > 0, which inherits rank 0's devices).

    Sets ``CUDA_VISIBLE_DEVICES`` to the slot's devices before CUDA starts, and restores it afterwards
    when CUDA did not start, so the next run of a reused worker process (joblib) starts afresh. Once
    CUDA started in a process it sees only the devices it saw then: later runs of that worker take
    slots on those devices only, named to the Trainer by index (``trainer_devices``)."""
    placement = cfg.get("placement") or {}
    devices = parse_devices(placement.get("devices"))
    if devices is None or rank != 0:
        yield None
        return
    pool = DevicePool(pool_dir_of(cfg), devices, int(placement.get("runs_per_device", 1)))
    count = slots_needed(cfg.trainer.get("devices", 1))
    given = os.environ.setdefault(GIVEN_ENV, os.environ.get(CUDA_ENV, ""))  # before any placement
    view = _cuda_view()
    allowed = [d for d in devices if view is None or _visible_name(d, given) in view]
    waiting = time.perf_counter()
    with pool.acquire(count, allowed) as lease:
        visible = [_visible_name(d, given) for d in lease.devices]
        info: dict[str, Any] = {
            "host": socket.gethostname(),
            "devices": lease.devices,
            "cuda_visible_devices": ",".join(visible),
            "slots": [{"device": s.device, "slot": s.index} for s in lease.slots],
            "runs_per_device": pool.runs_per_device,
            "pool_dir": str(pool.pool_dir),
            "wait_s": round(time.perf_counter() - waiting, 3),  # waiting for a free slot
        }
        if view is not None:
            info["trainer_devices"] = [view.index(name) for name in visible]
        else:
            os.environ[CUDA_ENV] = info["cuda_visible_devices"]
        log.info("placement: %s slot(s) %s", info["host"], info["slots"])
        try:
            yield info
        finally:
            if not torch.cuda.is_initialized():
                _restore(CUDA_ENV, given)
                os.environ.pop(GIVEN_ENV, None)  # nothing of this run stays in the environment


def _cuda_view() -> list[str] | None:
    """None before CUDA starts in this process (any device can still be made visible); after, the
    devices it shows, as ``CUDA_VISIBLE_DEVICES`` named them when it started (left set for that reason)."""
    if not torch.cuda.is_initialized():
        return None
    return _names(os.environ.get(CUDA_ENV, "")) or [str(d) for d in range(torch.cuda.device_count())]


def _names(visible: str) -> list[str]:
    return [n.strip() for n in visible.split(",") if n.strip()]


def _restore(key: str, value: str) -> None:
    if value:
        os.environ[key] = value
    else:
        os.environ.pop(key, None)


def _visible_name(device: int, given: str) -> str:
    """Device ``device`` as ``CUDA_VISIBLE_DEVICES`` names it: an index into the list the process was
    given (a SLURM allocation, a user's own setting), else the id itself."""
    names = _names(given)
    if not names:
        return str(device)
    if device >= len(names):
        raise PlacementError(
            f"placement.devices has device {device} but CUDA_VISIBLE_DEVICES={given!r} shows "
            f"{len(names)} device(s): give indices below {len(names)}"
        )
    return names[device]
