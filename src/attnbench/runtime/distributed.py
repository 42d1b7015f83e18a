"""DDP inside Hydra: one output directory per job, clean process state between multirun jobs.

Lightning's own launcher (``strategy=ddp`` on one node) starts ranks 1..N-1 by re-running
``sys.argv`` with ``hydra.run.dir=<hydra.run.dir>`` appended. Inside a Hydra multirun that command
is wrong twice: ``sys.argv`` still holds ``-m`` and the whole sweep (each child would start the
sweep again), and ``hydra.run.dir`` is not the job's directory (it holds a fresh ``${now:...}``,
so the children write elsewhere). Under the joblib or submitit launchers ``sys.argv`` is not even
ours. And after a job, Lightning leaves ``LOCAL_RANK``/``MASTER_PORT``/... in ``os.environ`` and the
process group open, so the next job in the same process believes its processes are started
externally and waits for ranks that never come.

:class:`HydraDDPStrategy` fixes both: its launcher starts each child as
``python -m attnbench.train --config-name <job's config> <the job's own overrides>
hydra.run.dir=<the job's output dir>``, and :func:`end_distributed` (called at the end of every
run) waits for the children, closes the process group and restores the environment.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, cast

import torch
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from pytorch_lightning.utilities import rank_zero_only

from attnbench.config.overrides import quoted

log = logging.getLogger(__name__)

# Set by the launcher in the parent process (as Lightning's does); restored after the job.
LAUNCHER_ENV_KEYS = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "OMP_NUM_THREADS")
# Hydra overrides that describe the sweep or its launcher, not the job: a child never gets them.
_SWEEP_ONLY = (
    "hydra.run.",
    "hydra.sweep.",
    "hydra.launcher",
    "hydra/launcher",
    "hydra.sweeper",
    "hydra/sweeper",
    "hydra.mode",
    "hydra.output_subdir",
    "hydra.job.name",
    "hydra.job_logging.handlers.file.filename",
)
# `trainer.strategy` strings that mean Lightning's DDP with processes it starts itself.
DDP_NAMES = {
    "ddp": {},
    "ddp_find_unused_parameters_true": {"find_unused_parameters": True},
    "ddp_find_unused_parameters_false": {"find_unused_parameters": False},
}


def hydra_child_command(local_rank: int, log_stem: str) -> tuple[list[str], str]:
    """The command and working directory that run rank ``local_rank`` of the current Hydra job.

    Only the job's own overrides are passed (in a multirun, ``hydra.overrides.task`` is this job's
    combination, not the sweep), in single-run mode in the job's output directory, without writing
    ``.hydra/`` again; the rank logs to ``<output_dir>/<log_stem>_rank<k>.log``.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    hc = HydraConfig.get()
    output_dir = str(hc.runtime.output_dir)
    command = [sys.executable, "-m", "attnbench.train", "--config-name", str(hc.job.config_name)]
    for source in hc.runtime.config_sources:
        if source.provider == "command-line":  # --config-dir
            command += ["--config-dir", source.path.removeprefix("file://")]
    hydra_overrides = [o for o in hc.overrides.hydra if not o.lstrip("+~").startswith(_SWEEP_ONLY)]
    command += [*hc.overrides.task, *hydra_overrides]
    command += [f"hydra.run.dir={quoted(output_dir)}", "hydra.output_subdir=null"]
    if "file" in (hc.job_logging or {}).get("handlers", {}):
        log_file = os.path.join(output_dir, f"{log_stem}_rank{local_rank}.log")
        command.append(f"hydra.job_logging.handlers.file.filename={quoted(log_file)}")
    return command, get_original_cwd()


def _hydra_job_running() -> bool:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and HydraConfig.get().runtime.output_dir is not None


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Lightning's subprocess launcher with the child command of :func:`hydra_child_command`.

    Outside a Hydra job (plain Python) it behaves exactly like Lightning's. :meth:`finish` waits for
    the children and restores the environment variables the launch set.
    """

    def __init__(self, *args: Any, log_stem: str = "train", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_stem = log_stem
        self._saved_env: dict[str, str | None] | None = None

    def _call_children_scripts(self) -> None:
        self._saved_env = {key: os.environ.get(key) for key in LAUNCHER_ENV_KEYS}
        if not _hydra_job_running():
            super()._call_children_scripts()
            return
        self._check_can_spawn_children()
        self.procs = []
        # the same variables Lightning's launcher sets: the children join this process group
        os.environ["MASTER_ADDR"] = self.cluster_environment.main_address
        os.environ["MASTER_PORT"] = str(self.cluster_environment.main_port)
        os.environ["NODE_RANK"] = str(self.cluster_environment.node_rank())
        os.environ["LOCAL_RANK"] = str(self.cluster_environment.local_rank())
        os.environ["WORLD_SIZE"] = f"{self.num_processes * self.num_nodes}"
        for local_rank in range(1, self.num_processes):
            env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            command, cwd = hydra_child_command(local_rank, self.log_stem)
            log.debug("starting rank %d: %s (cwd %s)", local_rank, command, cwd)
            self.procs.append(subprocess.Popen(command, env=env, cwd=cwd))

    def finish(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for every child (kill the ones still running), then restore the env."""
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("DDP rank process %d still running after %.0f s; killing it", proc.pid, timeout)
                proc.kill()
                proc.wait()
        if self._saved_env is not None:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env = None


class HydraDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose processes are started by :class:`HydraJobLauncher` (see the module doc).

    What ``trainer.strategy=ddp`` builds (gloo on CPU, NCCL on GPU). Under SLURM (``srun``, submitit
    with ``tasks_per_node = devices``) or ``torchrun`` the processes exist already and nothing is
    started.
    """

    def __init__(self, *args: Any, log_stem: str = "train", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_stem = log_stem

    def _configure_launcher(self) -> None:
        assert self.cluster_environment is not None
        self._launcher = HydraJobLauncher(
            self.cluster_environment, self.num_processes, self.num_nodes, log_stem=self.log_stem
        )


def build_strategy(strategy: Any, log_stem: str = "train") -> Any:
    """``trainer.strategy`` → what ``pl.Trainer`` gets: the DDP names become :class:`HydraDDPStrategy`,
    anything else (``auto``, ``ddp_spawn``, ``fsdp``, an instance) passes through unchanged."""
    if isinstance(strategy, str) and strategy in DDP_NAMES:
        return HydraDDPStrategy(log_stem=log_stem, **DDP_NAMES[strategy])
    return strategy


def end_distributed(strategy: Any, timeout: float = 120.0) -> None:
    """End of a run: wait for the child ranks, close the process group, restore the environment,
    so that the next run in this process (the next multirun job) starts from a clean slate."""
    launcher = getattr(strategy, "launcher", None)
    if isinstance(launcher, HydraJobLauncher):
        launcher.finish(timeout)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        try:
            torch.distributed.destroy_process_group()
        except Exception:  # cleanup must not hide the run's own result or error
            log.exception("closing the process group failed")


def _devices_per_node(devices: Any) -> int:
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, str) and devices.isdigit():
        return int(devices)
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        return len(devices)
    return max(torch.cuda.device_count(), 1)  # "auto" / -1


def global_rank_from_env(devices: Any = 1) -> int:
    """This process's global rank before the Trainer knows it (loggers are built first).

    ``torchrun`` sets ``RANK``; processes that Lightning starts have ``LOCAL_RANK`` and, on node
    ``n`` > 0 of a hand-started multi-node run, ``NODE_RANK``; SLURM tasks have ``SLURM_PROCID``.
    Lightning's own guess reads ``LOCAL_RANK`` alone, which makes local rank 0 of every node a
    "rank 0" (one W&B run per node instead of per job).
    """
    env = os.environ
    if "RANK" in env:
        return int(env["RANK"])
    if "LOCAL_RANK" in env or "NODE_RANK" in env:
        node = int(env.get("NODE_RANK", env.get("GROUP_RANK", 0)))
        return node * _devices_per_node(devices) + int(env.get("LOCAL_RANK", 0))
    return int(env.get("SLURM_PROCID", 0))


# Lightning keeps the process's global rank as an attribute of its ``rank_zero_only`` function (set on
# import, then by the strategy); the stubs type that function as an overload, without the attribute.
_RANK_ATTRIBUTE = "rank"


def process_rank() -> int:
    """This process's global rank as Lightning's ``rank_zero_only`` sees it (0 outside DDP)."""
    return cast(int, getattr(rank_zero_only, _RANK_ATTRIBUTE))


def set_process_rank(rank: int) -> None:
    """Tell Lightning's ``rank_zero_only`` (and so every rank-zero-only logger call) this process's rank."""
    setattr(rank_zero_only, _RANK_ATTRIBUTE, rank)
