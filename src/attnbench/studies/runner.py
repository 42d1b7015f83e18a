"""Run a study, resumably: one Hydra multirun over every job the study still needs.

Jobs run with ``skip_completed=true``: running the study again skips runs that completed with the same
resolved config (hash) and re-runs failed, interrupted (resuming from ``last.ckpt``) or missing ones.
Every call appends its counts to ``<sweep dir>/study_history.jsonl`` and the multirun's output to
``<sweep dir>/study.log``; its start goes to ``<sweep dir>/.study/calls_started.jsonl`` first, so a call
killed before it finished is still listed among the calls.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from attnbench.config import config_dir, config_hash, register_configs
from attnbench.config.overrides import quoted
from attnbench.runtime.record import RUN_FILE
from attnbench.studies.study_file import Job, Study, StudyError
from attnbench.studies.sweep import Pool, job_overrides, sweep_overrides, write_variant_configs

log = logging.getLogger(__name__)

LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm", "ray")


def job_status(sweep_dir: Path, job: Job) -> str:
    """completed | failed | running (interrupted) | missing, from the job directory's run.json."""
    path = sweep_dir / job.dir_name / RUN_FILE
    if not path.is_file():
        return "missing"
    try:
        return str(json.loads(path.read_text()).get("status", "failed"))
    except (OSError, ValueError):
        return "failed"


def done_jobs(study: Study, sweep_dir: Path, user: list[str]) -> set[str]:
    """Jobs whose directory holds a completed run of exactly the config this call would run: each job is
    composed here (as the multirun will compose it) and its config hash compared with the record's."""
    register_configs()
    conf = sweep_dir.resolve() / ".study" / "conf"
    done = set()
    GlobalHydra.instance().clear()
    composed: dict[str, DictConfig] = {}  # one composition per (variant, cell); the seed is set on a copy
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            for job in study.expected_jobs():
                if job_status(sweep_dir, job) != "completed":
                    continue
                try:
                    key = json.dumps([job.variant, job.cell], sort_keys=True, default=str)
                    if key not in composed:
                        overrides = [
                            *job_overrides(study, dataclasses.replace(job, seed=0), user),
                            f"hydra.searchpath=[{quoted(f'file://{conf}')}]",
                        ]
                        composed[key] = compose("config", overrides=overrides)
                    cfg = composed[key].copy()
                    cfg.seed = job.seed
                    record = json.loads((sweep_dir / job.dir_name / RUN_FILE).read_text())
                    digest = config_hash(cfg)
                    if record.get("config_hash") == digest or config_hash(record.get("config") or {}) == digest:
                        done.add(job.dir_name)
                except Exception:  # cannot tell here: the run itself decides
                    continue
    finally:
        GlobalHydra.instance().clear()
    return done


def run_study(
    study: Study,
    sweep_dir: Path,
    user: list[str],
    launcher: str,
    jobs: int,
    watch: Callable[[], object] | None = None,
    pool: Pool | None = None,
) -> dict[str, Any]:
    """Launch the study's multirun (skipping completed runs); returns counts and the wall time.

    ``watch`` is called about once a second while the multirun runs (the progress display); ``pool``
    places the runs on devices (K runs per device)."""
    check_launcher(launcher)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_variant_configs(study, sweep_dir.resolve() / ".study" / "conf")
    jobs_all = study.expected_jobs()
    done = done_jobs(study, sweep_dir, user)
    overrides = sweep_overrides(study, sweep_dir, user, launcher, jobs, pool)
    cmd = [sys.executable, "-m", "attnbench.train", "-m", *overrides]
    log.info(
        "%s: %d runs, %d done with this config (skipped), %d to run",
        study.name,
        len(jobs_all),
        len(done),
        len(jobs_all) - len(done),
    )
    started = time.perf_counter()
    call_started = mark_call_started(sweep_dir, shlex.join(cmd))
    rc = 0
    if len(done) < len(jobs_all):  # one multirun over the whole grid: the jobs already done skip themselves
        with open(sweep_dir / "study.log", "a") as fh:
            fh.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(cmd)}\n")
            fh.flush()
            rc = wait(subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT), watch)
    wall = time.perf_counter() - started
    after = {j.dir_name: job_status(sweep_dir, j) for j in jobs_all}
    info: dict[str, Any] = {
        "runs": len(jobs_all),
        "completed": sum(s == "completed" for s in after.values()),
        "failed": sorted(k for k, s in after.items() if s != "completed"),
        "reused": len(done),
        "multirun_exit_code": rc,
        "wall_s": wall,
        "launcher": launcher,
        "jobs": jobs,
        "devices": ",".join(map(str, pool.devices)) if pool else "not placed (no device pool)",
        **({"runs_per_device": pool.runs_per_device} if pool else {}),
        "command": "attnbench-train -m " + shlex.join(overrides),
        "started": call_started,
    }
    info["calls"] = record_call(sweep_dir, info)
    return info


def wait(proc: subprocess.Popen[bytes], watch: Callable[[], object] | None, every_s: float = 1.0) -> int:
    """The multirun's exit code, calling ``watch`` every ``every_s`` seconds until it exits."""
    while True:
        try:
            return proc.wait(timeout=every_s)
        except subprocess.TimeoutExpired:
            if watch is not None:
                watch()
        except BaseException:  # Ctrl-C or a kill of this process: do not leave the multirun behind
            proc.terminate()
            raise


def check_launcher(launcher: str) -> None:
    """A launcher this runner knows, and (for Ray) whose plugin is installed."""
    if launcher not in LAUNCHERS:
        raise StudyError(f"--launcher {launcher}: use one of {list(LAUNCHERS)}")
    if launcher == "ray":
        try:
            import hydra_plugins.hydra_ray_launcher  # noqa: F401  (an optional extra: only its presence matters)
        except ImportError:
            raise StudyError("--launcher ray needs the Ray launcher: pip install -e '.[ray]'") from None


def mark_call_started(sweep_dir: Path, command: str) -> str:
    """Note a call's start before its multirun runs; returns its key (the time and the process id)."""
    key = f"{time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}"
    path = sweep_dir / ".study" / "calls_started.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps({"started": key, "command": command}) + "\n")
    return key


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines() if path.is_file() else []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut short by a kill
            continue
    return out


def _ran(call: dict[str, Any]) -> int:
    return int(call.get("runs", 0)) - int(call.get("reused", 0))


def record_call(sweep_dir: Path, info: dict[str, Any]) -> str:
    """Append this call to ``study_history.jsonl``; return every call on this sweep dir as one line.

    A study finished in several goes shows what each cost (a call before a change of the study file
    ran runs that the later call replaced); a call that was killed before it finished is listed as
    interrupted."""
    now = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), **info}
    with open(sweep_dir / "study_history.jsonl", "a") as fh:
        fh.write(json.dumps(now) + "\n")
    return call_history(sweep_dir)


def call_history(sweep_dir: Path) -> str:
    """Every call recorded on this sweep dir as one line (``attnbench-study --no-run`` shows them without
    adding one: the MANIFEST of a re-aggregation still says which calls ran the runs)."""
    calls = _read_jsonl(sweep_dir / "study_history.jsonl")
    finished = {h.get("started") for h in calls}
    interrupted = [
        (c["started"][:19], f"{c['started'][:19]}: interrupted (killed before it finished)")
        for c in _read_jsonl(sweep_dir / ".study" / "calls_started.jsonl")
        if c.get("started") not in finished
    ]
    done = [
        (h["time"], f"{h['time']}: {h.get('wall_s', 0.0):.0f} s, ran {_ran(h)} of {h.get('runs', 0)}") for h in calls
    ]
    return "; ".join(text for _, text in sorted(interrupted + done, key=lambda c: c[0]))
