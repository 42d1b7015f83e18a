"""W&B with credentials and no reachable server (a cluster node without a route out): the run and the
study complete offline within the timeouts, exit 0, say so in one line, and leave `wandb sync`-able
directories. Two real local endpoints: a port nobody listens on (refused at once) and a socket that
accepts connections and never answers (wandb waits for its timeout)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from attnbench.reporting.wandb_table import table_run_id

from .helpers import CLI_TRAIN_OVERRIDES, subprocess_env, train_command

pytestmark = pytest.mark.xdist_group("wandb_network")
INIT_TIMEOUT = 3
API_KEY = "c" * 40


@contextmanager
def silent_server() -> Iterator[str]:
    """A local endpoint that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def closed_port() -> Iterator[str]:
    """A local address where nothing listens: connections are refused at once."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield f"http://127.0.0.1:{port}"


def env_with_credentials(base: Path, url: str) -> dict[str, str]:
    env = subprocess_env(base)
    env.update({"WANDB_API_KEY": API_KEY, "WANDB_BASE_URL": url, "WANDB_SILENT": "false"})
    return env


def offline_runs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def test_a_run_with_credentials_and_a_server_that_never_answers_completes_offline(tmp_path: Path) -> None:
    """A refused port (``closed_port``) is tested through the study's run below: one W&B start fewer."""
    run_dir = tmp_path / "run"
    overrides = [*CLI_TRAIN_OVERRIDES, "logger=wandb", f"logger.wandb.init_timeout={INIT_TIMEOUT}"]
    with silent_server() as url:
        started = time.perf_counter()
        proc = subprocess.run(
            train_command(*overrides, f"hydra.run.dir={run_dir}"),
            cwd=tmp_path,
            env=env_with_credentials(tmp_path, url),
            capture_output=True,
            text=True,
            timeout=300,
        )
        wall = time.perf_counter() - started
        ended = time.time()
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    fallbacks = [line for line in output.splitlines() if "logging offline instead" in line]
    assert len(fallbacks) == 1 and url.split("//")[1] in fallbacks[0] and "wandb sync" in fallbacks[0]
    runs = offline_runs(run_dir)
    assert [p.name.rsplit("-", 1)[1] for p in runs] == [record["run_id"]]  # the run's own id, offline
    assert list(runs[0].glob("*.wandb")), "the offline run has its .wandb file for `wandb sync`"
    # and the process ends with its run: wandb's own analytics, flushed at exit to the server that never
    # answers, kept it alive ~22 s after its record (two requests of wandb's 10 s timeout) until they were
    # silenced after the fallback (attnbench.runtime.loggers.silence_wandb_analytics)
    lag = ended - record["finished_at"]
    assert lag < 9, f"the process lived {lag:.1f} s after its run ended: something waited on the network"
    print(f"never answers: the run took {wall:.1f} s (init_timeout={INIT_TIMEOUT}), exit {lag:.1f} s after its record")


def test_a_study_with_credentials_and_no_server_completes_and_reuses_its_table_run(tmp_path: Path) -> None:
    study = {
        "description": "One tiny run logged to W&B.",
        "overrides": [
            *CLI_TRAIN_OVERRIDES,
            "logger=wandb",
            f"logger.wandb.init_timeout={INIT_TIMEOUT}",
            "callbacks.rich_progress_bar=null",
        ],
        "seeds": [1],
        "variants": {"plain": {"label": "BiLSTM", "overrides": ["attention=none"]}},
        "table": {"metrics": ["test/acc"]},
    }
    study_file = tmp_path / "wb.yaml"
    study_file.write_text(yaml.safe_dump(study, sort_keys=False))
    sweep, out = tmp_path / "sweep", tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "attnbench.cli.study",
        str(study_file),
        "--sweep-dir",
        str(sweep),
        "--launcher",
        "basic",
    ]
    # a refused port: the silent server's timeouts are the run test's above (each W&B start there costs ~20 s
    # more, and a study starts three: its run and its table run, twice)
    with closed_port() as url:
        env = env_with_credentials(tmp_path, url)
        first = subprocess.run([*command, "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
        second = subprocess.run(
            [*command, "--out", str(out), "--no-run"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    # the run: completed, offline under its own id, the fallback said once in its log, naming the server
    run_dir = sweep / "plain" / "seed=1"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    fallbacks = [ln for ln in (run_dir / "train.log").read_text().splitlines() if "logging offline instead" in ln]
    assert len(fallbacks) == 1 and url.split("//")[1] in fallbacks[0] and "wandb sync" in fallbacks[0]
    runs = offline_runs(run_dir)
    assert [p.name.rsplit("-", 1)[1] for p in runs] == [record["run_id"]]
    assert list(runs[0].glob("*.wandb")), "the offline run has its .wandb file for `wandb sync`"
    # the table run: one fixed id for the study, offline both times, every report updating that one run
    table_runs = sorted(sweep.rglob("offline-run-*-table-*"))
    assert len(table_runs) == 2, table_runs
    expected_id = table_run_id("attnbench", "wb")
    assert {p.name.rsplit("-", 2)[-2] + "-" + p.name.rsplit("-", 1)[1] for p in table_runs} == {expected_id}
