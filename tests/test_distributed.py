"""DDP with real processes on CPU (gloo, 2 ranks), through the real CLI: rank 0 alone writes, one output
directory and one W&B run per job, evaluation exact to the last example, DDP inside a Hydra multirun and
under submitit's local executor, and resume from ``last.ckpt`` after the whole process group is killed."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hydra.utils import instantiate

from attnbench.data.batching import BucketBySequenceLength
from attnbench.runtime.checkpoints import load_checkpoint, restore_data_state
from attnbench.tasks import ClassificationTask
from attnbench.train import run

from .helpers import (
    DDP_OVERRIDES,
    DDP_TIMEOUT,
    assert_completed,
    compose_config,
    read_record,
    run_cli,
    single_process_trainer,
    subprocess_env,
    train_command,
)

REPO = Path(__file__).resolve().parents[1]
EVAL_METRICS = ("acc", "f1_macro", "loss")

# val/test of BBC News at DDP_OVERRIDES' 32 tokens: data.dedup removes 98 copies, then 3 val and 5 test
# articles whose first 32 tokens equal a training article's (docs/data-integrity.md)
SIZES = {"val": 210, "test": 208}


def single_process_evaluation(ckpt: str | Path, overrides: list[str]) -> dict[str, Any]:
    """The reference: ``ckpt`` evaluated in this process on one device, val and test, with
    Lightning + torchmetrics and, independently, by counting correct predictions example by example."""
    cfg = compose_config(overrides)
    checkpoint = load_checkpoint(ckpt)
    dm = instantiate(cfg.data)
    restore_data_state(dm, checkpoint)
    dm.setup("fit")
    model = ClassificationTask(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    trainer = single_process_trainer()
    metrics = {
        **trainer.validate(model, datamodule=dm, verbose=False)[0],
        **trainer.test(model, datamodule=dm, verbose=False)[0],
    }
    model.eval()
    counts = {}
    with torch.no_grad():
        for split in ("val", "test"):
            correct = seen = 0
            for batch in dm._loader(split, train=False):
                correct += int((model(batch.ids, batch.lengths, batch.mask).argmax(-1) == batch.labels).sum())
                seen += len(batch)
            counts[split] = (correct, seen)
    return {"metrics": metrics, "counts": counts}


def assert_exact(ddp_metrics: dict[str, float], reference: dict[str, Any], splits: tuple[str, ...]) -> None:
    for split in splits:
        correct, n = reference["counts"][split]
        # the whole split (BBC News de-duplicated, 32 tokens): 210 = 3 × 50 + 10 on rank 0, 2 × 50 on rank 1
        assert n == SIZES[split], n
        ddp_acc = ddp_metrics[f"{split}/acc"]
        assert round(ddp_acc * n) == correct and math.isclose(ddp_acc, correct / n, rel_tol=1e-6), (split, ddp_acc)
        assert ddp_acc == reference["metrics"][f"{split}/acc"]
        assert math.isclose(ddp_metrics[f"{split}/f1_macro"], reference["metrics"][f"{split}/f1_macro"], rel_tol=1e-6)
        # the exact example-weighted mean; the mean of the two ranks' means differs in the 3rd-4th digit
        assert math.isclose(ddp_metrics[f"{split}/loss"], reference["metrics"][f"{split}/loss"], rel_tol=1e-5)


# ---- one shared DDP run ----------------------------------------------------------------------


def assert_nothing_but_the_data_cache(root: Path) -> None:
    """Under ``paths.root_dir`` a run may only add the processed-data cache shared by all runs."""
    if root.exists():
        assert [p.name for p in root.iterdir()] == [".cache"]
        assert [p.name for p in (root / ".cache").iterdir()] == ["data"]


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_trained_run")
def test_ddp_rank_zero_alone_writes_one_directory(ddp_trained_run) -> None:
    run_dir, base = Path(ddp_trained_run["run_dir"]), Path(ddp_trained_run["base"])
    record = read_record(run_dir)
    assert_completed(record)
    assert record["config"]["trainer"]["strategy"] == "ddp" and record["config"]["trainer"]["devices"] == 2
    assert record["config"]["trainer"]["accelerator"] == "cpu"

    # One directory per job: nothing in the working directory, the default log dir, or beside the sweep.
    # wandb-home: W&B's own settings; root: only the shared processed-data cache (paths.cache_dir)
    assert {p.name for p in base.iterdir()} <= {"cwd", "sweep", "wandb-home", "root"}
    assert list(Path(ddp_trained_run["cwd"]).iterdir()) == []
    assert_nothing_but_the_data_cache(base / "root")

    # Written once, by rank 0: a second run.json writer would have left run.1.json; a second Hydra
    # job setup would have rewritten .hydra with its own overrides.
    assert sorted(p.name for p in run_dir.glob("run*.json")) == ["run.json"]
    assert yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) == ddp_trained_run["overrides"]
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and "last.ckpt" in checkpoints, checkpoints
    assert Path(record["checkpoint"]).parent == run_dir / "checkpoints"
    assert [p.name for p in (run_dir / "csv").glob("metrics*.csv")] == ["metrics.csv"]

    # One W&B run for each job, in the job's directory.
    offline = list(run_dir.glob("wandb/offline-run-*"))
    assert len(offline) == 1, offline
    assert len(list(base.rglob("run-*.wandb"))) == 2

    # Rank 1 ran in the same directory, logging to its own file.
    assert (run_dir / "train.log").is_file() and (run_dir / "train_rank1.log").is_file()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in ddp_trained_run["output"]


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_trained_run")
def test_ddp_evaluation_equals_single_process_to_the_last_example(ddp_trained_run) -> None:
    """Both jobs of the multirun: the second ran in the process the first had used."""
    for job, seed in ((0, 1), (1, 2)):
        record = read_record(Path(ddp_trained_run["sweep_dir"]) / str(job))
        assert record["data"]["val/size"] == SIZES["val"] and record["data"]["test/size"] == SIZES["test"]
        reference = single_process_evaluation(record["checkpoint"], [*DDP_OVERRIDES, f"seed={seed}"])
        assert_exact(record["metrics"], reference, ("val", "test"))


def test_eval_batches_cover_every_example_once_on_every_rank() -> None:
    """Evaluation shards: each example once, no padding duplicates, and every rank gets a batch even
    when the split has fewer batches than ranks (a rank without one would hang the metric sync)."""
    lengths = [(7 * i) % 40 + 1 for i in range(223)]
    for replicas, batch_size in [(2, 50), (2, 128), (4, 128), (3, 1000)]:
        shards = [
            list(BucketBySequenceLength(lengths, batch_size, shuffle=False, num_replicas=replicas, rank=r))
            for r in range(replicas)
        ]
        assert all(shards), (replicas, batch_size)
        seen = Counter(i for shard in shards for batch in shard for i in batch)
        assert sorted(seen) == list(range(223)) and set(seen.values()) == {1}
    with pytest.raises(ValueError, match="2 evaluation examples"):
        BucketBySequenceLength([3, 4], 8, shuffle=False, num_replicas=4, rank=0)


# ---- DDP inside Hydra multiruns ----------------------------------------------------------------


def _check_sweep_jobs(sweep_dir: Path, output: str, seeds: list[int], launch_line: str) -> list[dict[str, Any]]:
    """Each job in its own directory with its own seed, rank 1 beside rank 0; the sweep launched once
    (``launch_line`` is what the launcher logs when it starts a sweep)."""
    assert sorted(p.name for p in sweep_dir.iterdir() if not p.name.startswith(".")) == [
        *[str(i) for i in range(len(seeds))],
        "multirun.yaml",
    ]
    assert output.count(launch_line) == 1, "a rank process launched the sweep again"
    records = []
    for job, seed in enumerate(seeds):
        job_dir = sweep_dir / str(job)
        record = read_record(job_dir)
        assert_completed(record)
        assert record["run_dir"] == str(job_dir) and record["config"]["seed"] == seed
        assert f"seed={seed}" in yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
        assert sorted(p.name for p in job_dir.glob("run*.json")) == ["run.json"]
        assert (job_dir / "train_rank1.log").is_file()
        assert Path(record["checkpoint"]).parent == job_dir / "checkpoints"
        records.append(record)
    return records


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_trained_run")
def test_ddp_multirun_two_jobs_in_one_process(ddp_trained_run) -> None:
    """2 jobs × 2 processes with Hydra's basic launcher (the shared DDP run): the jobs run one after the
    other in one process, so the second must start with a closed process group and Lightning's variables
    gone (its evaluation is checked exact above)."""
    sweep_dir = Path(ddp_trained_run["sweep_dir"])
    _check_sweep_jobs(sweep_dir, ddp_trained_run["output"], [1, 2], "Launching 2 jobs locally")
    for job in (0, 1):  # one W&B run per job, in the job's directory
        assert len(list((sweep_dir / str(job)).glob("wandb/offline-run-*/run-*.wandb"))) == 1


@pytest.mark.slow
def test_ddp_sweep_with_submitit_local(tmp_path: Path) -> None:
    """``hydra/launcher=submitit_local``: each job runs in a submitit worker process, whose ``sys.argv``
    is submitit's; each starts its own rank 1."""
    sweep_dir = tmp_path / "sweep"
    proc = run_cli(
        train_command(
            "-m",
            "hydra/launcher=submitit_local",
            *DDP_OVERRIDES,
            "trainer.max_epochs=1",
            "logger=none",
            "seed=1,2",
            f"hydra.sweep.dir={sweep_dir}",
        ),
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        timeout=DDP_TIMEOUT,
    )
    _check_sweep_jobs(sweep_dir, proc.stdout + proc.stderr, [1, 2], "Submitit 'local' sweep output dir")
    submitit_logs = list((sweep_dir / ".submitit").rglob("*_log.out"))
    assert len(submitit_logs) == 2, submitit_logs  # two submitit jobs, one per sweep point
    assert_nothing_but_the_data_cache(tmp_path / "root")


@pytest.mark.slow
def test_ddp_sweep_with_ray(tmp_path: Path) -> None:
    """``hydra/launcher=ray`` (the optional extra ``.[ray]``; skipped without it): each job in a Ray
    worker, each starting its own rank 1."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="optional extra: pip install -e '.[ray]'")
    sweep_dir = tmp_path / "sweep"
    env = {**subprocess_env(tmp_path), "HOME": str(tmp_path / "home")}  # Ray writes ~/.ray
    proc = run_cli(
        train_command(
            "-m",
            "hydra/launcher=ray",
            *DDP_OVERRIDES,
            "trainer.max_epochs=1",
            "logger=none",
            "seed=1,2",
            f"hydra.sweep.dir={sweep_dir}",
        ),
        cwd=tmp_path,
        env=env,
        timeout=DDP_TIMEOUT,
    )
    _check_sweep_jobs(sweep_dir, proc.stdout + proc.stderr, [1, 2], "Ray Launcher is launching 2 jobs")


# ---- resume -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ddp_run_restarted_with_the_same_command_resumes(tmp_path: Path) -> None:
    """The first run is killed like a preempted node: at the start of epoch 1 (epoch 0's checkpoints
    on disk) rank 0 SIGKILLs its process group, both ranks at once (tests/interrupt.py; a run that
    resumed passes through). The same command again resumes from checkpoints/last.ckpt and finishes."""
    run_dir = tmp_path / "run"
    command = train_command(
        *DDP_OVERRIDES,
        "logger=none",
        "+callbacks.kill._target_=tests.interrupt.KillAtEpoch",
        "+callbacks.kill.epoch=1",
        f"hydra.run.dir={run_dir}",
    )
    env = {
        **subprocess_env(tmp_path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    first = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DDP_TIMEOUT, start_new_session=True
    )  # its own process group: the kill reaches only this run
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert not (run_dir / "run.json").exists()  # killed before any cleanup
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0

    run_cli(command, cwd=tmp_path, env=env, timeout=DDP_TIMEOUT)
    record = read_record(run_dir)
    assert_completed(record)
    assert record["resumed_from"] == str(last)
    assert f"resuming from {last}" in (run_dir / "train.log").read_text()
    final = torch.load(last, weights_only=True)
    assert final["epoch"] == 1 and final["global_step"] == 2 * 3  # epochs 0 and 1, 3 steps each


def test_resume_false_and_a_foreign_last_ckpt(make_cfg, tmp_path: Path) -> None:
    """``resume=false`` ignores a ``last.ckpt``. A run directory that holds a run of another configuration
    (another config hash in its run.json) has that run's records and checkpoints moved to
    ``.previous/<time>/`` (nothing is lost, nothing is resumed from it); a ``last.ckpt`` of another model
    with no run record beside it fails naming the keys, before any training."""
    import shutil

    from attnbench.runtime.checkpoints import CheckpointMismatchError

    overrides = ("encoder=conv1d", "debug=fdr", "logger=none")
    first = run(make_cfg(*overrides))
    assert_completed(first)  # fast_dev_run writes only last.ckpt
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    record = run(make_cfg(*overrides, "resume=false"))
    assert record["status"] == "completed" and "resumed_from" not in record
    other = run(make_cfg(*overrides, "model.embedding_dim=12"))
    assert other["status"] == "completed" and "resumed_from" not in other
    assert other["config_hash"] != first["config_hash"]
    [backup] = (tmp_path / "run" / ".previous").iterdir()
    assert (backup / "checkpoints" / "last.ckpt").is_file() and (backup / "run.json").is_file()
    assert json.loads((backup / "run.json").read_text())["config_hash"] == first["config_hash"]
    # a foreign checkpoint without a record: the mismatch is named
    shutil.copy2(backup / "checkpoints" / "last.ckpt", last)
    (tmp_path / "run" / "run.json").unlink()
    with pytest.raises(CheckpointMismatchError, match=r"model\.embedding_dim=16 \(here 12\)"):
        run(make_cfg(*overrides, "model.embedding_dim=12"))
    assert read_record(tmp_path / "run")["status"] == "failed"


# ---- configs ---------------------------------------------------------------------------------


def test_trainer_presets_choose_one_ddp_code_path() -> None:
    from attnbench.runtime.distributed import HydraDDPStrategy, build_strategy

    cpu = compose_config(["trainer=ddp_cpu", "trainer.devices=3"]).trainer
    gpu = compose_config(["trainer=ddp", "trainer.num_nodes=2"]).trainer
    assert (cpu.accelerator, cpu.strategy, cpu.devices, cpu.num_nodes) == ("cpu", "ddp", 3, 1)
    assert (gpu.accelerator, gpu.strategy, gpu.devices, gpu.num_nodes) == ("gpu", "ddp", 2, 2)
    assert compose_config(["trainer=gpu", "trainer.precision=bf16-mixed"]).trainer.precision == "bf16-mixed"
    assert isinstance(build_strategy("ddp"), HydraDDPStrategy)
    assert build_strategy("ddp_find_unused_parameters_true")._ddp_kwargs == {"find_unused_parameters": True}
    assert build_strategy("auto") == "auto" and build_strategy("ddp_spawn") == "ddp_spawn"


def test_slurm_launcher_preset_asks_for_one_task_per_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hydra/launcher=slurm`` takes nodes, tasks and GPUs per node from the trainer; fed to submitit the
    way the Hydra plugin feeds it, the sbatch script asks for exactly that (no cluster needed: submitit
    only looks for an ``srun`` on PATH before writing the script)."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    from .helpers import CONF

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "config",
            return_hydra_config=True,
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.partition=gpu",
                "hydra.launcher.timeout_min=90",
                "trainer=ddp",
                "trainer.devices=4",
                "trainer.num_nodes=2",
            ],
        )
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)  # as the plugin gets them at launch
    assert (params["nodes"], params["tasks_per_node"], params["gpus_per_node"]) == (2, 4, 4)

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    executor = submitit.AutoExecutor(
        folder=str(tmp_path / "%j"), cluster="slurm", slurm_max_num_timeout=params["max_num_timeout"]
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{
            (k if k in base else f"slurm_{k}"): v
            for k, v in params.items()
            if k not in {"_target_", "submitit_folder", "max_num_timeout", "name"}
        }
    )
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit x", "uid")
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --cpus-per-task=8",
    ):
        assert line in script, (line, script)
    assert "--signal=USR2@120" in script and "--array" not in script  # the array is added at submission
