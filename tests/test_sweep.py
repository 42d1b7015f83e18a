"""The real CLI (``python -m attnbench.train``): a Hydra multirun writes one run.json per job, and
``hydra.run.dir`` puts a single run where it is told."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .helpers import (
    CLI_TRAIN_OVERRIDES,
    TINY_OVERRIDES,
    assert_completed,
    read_record,
    run_cli,
    subprocess_env,
    train_command,
)


@pytest.mark.slow
def test_multirun_writes_one_record_per_job(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli(
        train_command(
            "-m",
            "attention=none,additive",
            f"hydra.sweep.dir={sweep_dir}",
            "debug=fdr",
            "logger=none",
            *TINY_OVERRIDES,
            "encoder.hidden_size=16",
        ),
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
    )
    records = sorted(sweep_dir.glob("*/run.json"))
    assert [p.parent.name for p in records] == ["0", "1"]
    attention = {}
    for job in ("0", "1"):
        record = read_record(sweep_dir / job)
        assert_completed(record)
        assert record["run_dir"] == str(sweep_dir / job)
        overrides = yaml.safe_load((sweep_dir / job / ".hydra" / "overrides.yaml").read_text())
        attention[job] = (record["config"]["attention"]["name"], [o for o in overrides if o.startswith("attention=")])
    assert attention == {"0": ("none", ["attention=none"]), "1": ("attention", ["attention=additive"])}
    assert read_record(sweep_dir / "1")["config"]["attention"]["score"] == "additive"
    assert (sweep_dir / "multirun.yaml").is_file()
    assert not (tmp_path / "root" / "logs").exists()  # nothing went to the default log dir


@pytest.mark.slow
@pytest.mark.xdist_group("cli_trained_run")
def test_hydra_run_dir_is_honoured(cli_trained_run) -> None:
    run_dir = Path(cli_trained_run["run_dir"])
    record = read_record(run_dir)
    assert_completed(record)
    assert record["run_dir"] == str(run_dir) and record["config"]["paths"]["output_dir"] == str(run_dir)
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    assert overrides == CLI_TRAIN_OVERRIDES  # task overrides; hydra.* ones are in hydra.yaml
    hydra_cfg = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]
    assert hydra_cfg["run"]["dir"] == str(run_dir) and f"hydra.run.dir={run_dir}" in hydra_cfg["overrides"]["hydra"]
    assert (run_dir / "train.log").is_file()
    assert Path(record["checkpoint"]).parent == run_dir / "checkpoints"
    assert (run_dir / "csv" / "metrics.csv").is_file()
    # nothing was written to the working directory or the default log dir
    assert list(Path(cli_trained_run["cwd"]).iterdir()) == []
    assert not (Path(cli_trained_run["base"]) / "root" / "logs").exists()
