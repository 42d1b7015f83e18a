"""The device pool (``attnbench.runtime.placement``) on a machine without GPUs: slots are lock files, so
assignment, packing (never more than K runs on a device), release after a real kill and DDP slots are
checked here with real processes and threads; a real ``attnbench-study --jobs 2 --devices 0,1`` places
its two runs on two devices and the MANIFEST counts them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from omegaconf import DictConfig

from attnbench.runtime.placement import CUDA_ENV, GIVEN_ENV, DevicePool, Lease, PlacementError, place_run

from .helpers import (
    DDP_OVERRIDES,
    DDP_TIMEOUT,
    TINY_OVERRIDES,
    assert_completed,
    run_cli,
    subprocess_env,
    train_command,
)


def acquire_in_thread(pool: DevicePool, count: int = 1) -> tuple[threading.Thread, list[Lease]]:
    """Start waiting for ``count`` slots in a thread; the lease appears in the returned list."""
    got: list[Lease] = []
    thread = threading.Thread(target=lambda: got.append(pool.acquire(count, poll_s=0.02)), daemon=True)
    thread.start()
    return thread, got


def test_runs_spread_over_devices_then_pack_and_never_exceed_k(tmp_path: Path) -> None:
    pool = DevicePool(tmp_path / "pool", [0, 1, 3], runs_per_device=2)
    leases = [pool.acquire() for _ in range(6)]
    assert [lease.devices for lease in leases] == [[0], [1], [3], [0], [1], [3]]
    assert sorted((s.device, s.index) for lease in leases for s in lease.slots) == [
        (d, k) for d in (0, 1, 3) for k in (0, 1)
    ]
    thread, got = acquire_in_thread(pool)  # a seventh run waits: every device holds K=2 runs
    thread.join(0.5)
    assert thread.is_alive() and not got
    leases[4].release()  # a run on device 1 ends: the waiting run takes its slot, on device 1
    thread.join(10)
    assert got and got[0].devices == [1] and got[0].slots == leases[4].slots


def test_ddp_run_takes_one_slot_on_each_of_k_devices(tmp_path: Path) -> None:
    pool = DevicePool(tmp_path / "pool", [0, 1, 2], runs_per_device=1)
    ddp = pool.acquire(2)
    assert ddp.devices == [0, 1]
    thread, got = acquire_in_thread(pool, 2)  # one device is free: a second 2-device run waits
    thread.join(0.5)
    assert thread.is_alive()
    assert pool.acquire(1).devices == [2]
    ddp.release()
    thread.join(10)
    assert got and got[0].devices == [0, 1]
    with pytest.raises(PlacementError, match=r"trainer\.devices=4.*placement\.devices=\[0, 1, 2\]"):
        pool.acquire(4)


HOLD_SLOT = """
import sys, time
from attnbench.runtime.placement import DevicePool
lease = DevicePool(sys.argv[1], [0], runs_per_device=1).acquire()
print("held", lease.devices, flush=True)
time.sleep(600)
"""


def test_a_killed_run_gives_its_slot_back(tmp_path: Path) -> None:
    pool_dir = tmp_path / "pool"
    command = [sys.executable, "-c", HOLD_SLOT, str(pool_dir)]
    holder = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=subprocess_env(tmp_path))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held [0]"
        thread, got = acquire_in_thread(DevicePool(pool_dir, [0], runs_per_device=1))
        thread.join(0.5)
        assert thread.is_alive() and not got  # the slot is another process's
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the OS drops the dead process's lock
        holder.wait(10)
        thread.join(10)
        assert got and got[0].devices == [0]
    finally:
        holder.kill()
        holder.wait()


def test_place_run_sets_and_restores_cuda_visible_devices(
    tmp_path: Path, make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CUDA_ENV, "4,5,6")  # what the run was given (e.g. a SLURM allocation): ids index it
    cfg = make_cfg("placement.devices=[2,0]", "placement.runs_per_device=3", "trainer.devices=2")
    with place_run(cfg) as info:
        assert info is not None and os.environ[CUDA_ENV] == "6,4"
        assert info["devices"] == [2, 0] and info["cuda_visible_devices"] == "6,4"
        assert info["slots"] == [{"device": 2, "slot": 0}, {"device": 0, "slot": 0}]
        assert info["runs_per_device"] == 3 and Path(info["pool_dir"]).name == ".device_pool"
    assert os.environ[CUDA_ENV] == "4,5,6" and GIVEN_ENV not in os.environ  # nothing left for later runs
    with place_run(make_cfg()) as info:  # placement.devices unset: no pool, nothing set
        assert info is None and os.environ[CUDA_ENV] == "4,5,6"
    named = make_cfg("placement.devices=[0,1]", "trainer.devices=[0,1]")
    with pytest.raises(PlacementError, match=r"trainer.devices=2 instead"), place_run(named):
        pass


STUDY = {
    "description": "One tiny BiLSTM, two seeds, for the device pool test.",
    "question": "Do two parallel runs get two devices?",
    "overrides": [*TINY_OVERRIDES, "encoder.hidden_size=16", "debug=limit", "logger=csv"],
    "seeds": [1, 2],
    "variants": {"plain": {"label": "BiLSTM", "overrides": ["attention=none", "callbacks.rich_progress_bar=null"]}},
    "table": {"metrics": ["test/acc"]},
}


def test_study_with_two_devices_places_its_two_runs_on_both(tmp_path: Path) -> None:
    study_file = tmp_path / "pool.yaml"
    study_file.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    command = [sys.executable, "-m", "attnbench.cli.study", str(study_file), "--jobs", "2", "--devices", "0,1"]
    command += ["--sweep-dir", str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), "--quiet", "--no-wandb"]
    env = subprocess_env(tmp_path)
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("plain/*/run.json"))]
    assert len(records) == 2 and all(r["status"] == "completed" for r in records)
    placements = [r["placement"] for r in records]
    assert sorted(p["cuda_visible_devices"] for p in placements) == ["0", "1"], placements
    assert all(p["runs_per_device"] == 1 and len(p["slots"]) == 1 for p in placements)
    manifest = (tmp_path / "out" / "MANIFEST").read_text()
    host = placements[0]["host"]
    assert f"runs_per_device: {host}:0 1, {host}:1 1 (at most K=1 at once)" in manifest, manifest
    assert "sweep_devices: 0,1" in manifest


@pytest.mark.slow
def test_ddp_run_holds_a_slot_on_each_of_its_devices(tmp_path: Path) -> None:
    """A real 2-process DDP run (gloo) in a 3-device pool: rank 0 takes 2 slots on 2 devices (rank 1,
    started by it, inherits its CUDA_VISIBLE_DEVICES and takes none), and the epoch's training metrics,
    computed across both ranks, reached the logger."""
    run_dir = tmp_path / "ddp"
    overrides = [*DDP_OVERRIDES, "logger=csv", "placement.devices=[0,1,2]", f"placement.pool_dir={tmp_path / 'pool'}"]
    run_cli(train_command(*overrides, f"hydra.run.dir={run_dir}"), tmp_path, subprocess_env(tmp_path), DDP_TIMEOUT)
    record = json.loads((run_dir / "run.json").read_text())
    assert_completed(record)
    assert record["placement"]["devices"] == [0, 1] and record["placement"]["cuda_visible_devices"] == "0,1"
    assert record["placement"]["slots"] == [{"device": 0, "slot": 0}, {"device": 1, "slot": 0}]
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/acc", "train/f1_macro", "train/loss_epoch"} <= set(header)


def test_devices_with_a_scheduler_launcher_is_refused_not_recorded_unused() -> None:
    from attnbench.cli.study import pool_devices
    from attnbench.studies.study_file import StudyError

    assert pool_devices("0,1", "joblib", 2) == [0, 1] and pool_devices("none", "ray", 1) is None
    assert pool_devices(None, "submitit_slurm", 1) is None  # SLURM places the runs itself
    for launcher in ("ray", "submitit_slurm"):
        with pytest.raises(StudyError, match=f"--devices 0,1 with --launcher {launcher}: .*leave --devices out"):
            pool_devices("0,1", launcher, 1)
