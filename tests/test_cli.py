"""The commands as a new user meets them (docs/cli.md), through the console scripts, on the run directories
of a real tiny study whose path holds ``=``: a checkpoint or run directory as the first argument, the run's
own configuration, one-line errors naming the keys a user types, the tables the commands end with, and a
``--help`` menu that agrees with the docs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from attnbench.config import config_dir
from attnbench.config.overrides import quoted
from attnbench.runtime.checkpoints import user_key
from attnbench.runtime.trained_config import checkpoint_argv, trained_config
from attnbench.train import run

from .helpers import TINY_NEEDLE as NEEDLE
from .helpers import compose_config, subprocess_env

pytestmark = pytest.mark.xdist_group("cli_study")

STUDY = {
    "description": "Two tiny needle runs, for the command tests.",
    "question": "Do the commands work on a study's runs?",
    "overrides": NEEDLE,
    "seeds": [42],
    "variants": {
        "plain": {"label": "BiLSTM", "overrides": ["attention=none"]},
        "additive": {"label": "BiLSTM + additive", "overrides": ["attention=additive", "attention.hidden_size=8"]},
    },
    "table": {"metrics": ["test/acc"]},
}
TIMEOUT = 600
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def command(name: str, *args: str) -> list[str]:
    """The console script ``name`` as a user runs it."""
    return [str(Path(sys.executable).parent / name), *args]


def cli(args: list[str], base: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=base, env=subprocess_env(base), capture_output=True, text=True, timeout=TIMEOUT)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="session")  # once per worker, however xdist interleaves modules
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("cli") / "lr=0.1,a b"  # `=`, `,` and a space in every path below
    base.mkdir()
    (base / "tiny.yaml").write_text(yaml.safe_dump(STUDY, sort_keys=False))
    # the basic launcher runs both jobs in the multirun's process: no worker start-ups (the cheapest study)
    args = ["--sweep-dir", "sweep", "--out", "out", "--no-wandb", "--launcher", "basic"]
    ok(cli(command("attnbench-study", "tiny.yaml", *args), base))
    runs = {p.parent.parent.name: p.parent for p in (base / "sweep").glob("*/seed=42/run.json")}
    assert sorted(runs) == ["additive", "plain"]
    return {"base": base, "runs": runs}


def record_of(run_dir: Path, name: str = "run.json") -> dict[str, Any]:
    return json.loads((run_dir / name).read_text())


def test_a_path_as_first_argument_becomes_a_quoted_ckpt_path(tmp_path: Path) -> None:
    path = tmp_path / "seed=42, it's ${x}" / "best.ckpt"
    argv = checkpoint_argv(["attnbench-eval", str(path), "decode=beam"])
    [override] = OverridesParser.create().parse_overrides(argv[1:2])
    assert override.key_or_group == "ckpt_path"
    assert OmegaConf.create({"ckpt_path": override.value()}).ckpt_path == str(path)  # as the config reads it
    assert argv[2:] == ["decode=beam"]
    assert checkpoint_argv(["attnbench-eval", "ckpt_path=x.ckpt"]) == ["attnbench-eval", "ckpt_path=x.ckpt"]
    assert checkpoint_argv(["attnbench-eval", "--help"]) == ["attnbench-eval", "--help"]


def test_mismatch_keys_are_the_ones_a_user_types() -> None:
    assert user_key("encoder.hidden_size") == "encoder.hidden_size"
    assert user_key("attention.score") == "attention.score"
    assert user_key("embedding_dim") == "model.embedding_dim"
    assert user_key("optimizer.lr") == "model.optimizer.lr"
    assert user_key("vocab_size") == "vocab_size"  # the data decides it


def test_eval_of_a_run_directory_uses_the_runs_configuration(study: dict[str, Any]) -> None:
    run_dir, base = study["runs"]["additive"], study["base"]
    trained = record_of(run_dir)
    out = ok(cli(command("attnbench-eval", str(run_dir), "data.eval_batch_size=3", "hydra.run.dir=eval"), base))
    record = record_of(base / "eval")
    assert record["status"] == "completed" and record["checkpoint"] == trained["checkpoint"]
    for key in ("test/acc", "test/loss"):
        assert record["metrics"][key] == pytest.approx(trained["metrics"][key], rel=1e-6)
    config = record["config"]
    assert config["attention"]["score"] == "additive" and config["encoder"]["hidden_size"] == 8  # the run's
    assert config["data"]["synthetic"]["num_test"] == 16 and config["data"]["eval_batch_size"] == 3  # + override
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["metric", "val", "test"])
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 2 : header + 5]}
    assert rows["acc"] == [f"{trained['metrics']['val/acc']:.4f}", f"{record['metrics']['test/acc']:.4f}"]
    assert f"checkpoint: {trained['checkpoint']}" in lines
    assert f"record:     {base / 'eval' / 'run.json'}" in lines


def test_eval_mismatch_is_one_line_naming_the_keys_a_user_types(study: dict[str, Any]) -> None:
    ckpt = record_of(study["runs"]["additive"])["checkpoint"]
    args = ["encoder.hidden_size=16", "logger=none", "hydra.run.dir=bad"]
    proc = cli(command("attnbench-eval", ckpt, *args), study["base"])
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr  # Hydra's log goes to stdout
    [line] = [x for x in output.splitlines() if "CheckpointMismatchError" in x]
    assert "was trained with encoder.hidden_size=8 (here 16). Fix: pass encoder.hidden_size=8" in line
    assert "Traceback" not in output and "model.encoder" not in output


def test_analyze_a_checkpoint_ends_with_its_table_and_keeps_the_earlier_record(study: dict[str, Any]) -> None:
    run_dir = study["runs"]["additive"]
    ckpt = record_of(run_dir)["checkpoint"]
    args = ["analysis=[kendall]", "analysis.max_examples=4", "logger=none"]
    out = ok(cli(command("attnbench-analyze", ckpt, *args), study["base"]))
    metrics = record_of(run_dir)["metrics"]
    assert metrics["analysis/kendall/examples"] == 4 and "test/acc" in metrics
    assert not any(k.startswith("analysis/") for k in record_of(run_dir, "run.1.json")["metrics"])
    rows = [line.split() for line in out.splitlines()]
    assert ["kendall", "examples", "4"] in rows
    assert ["kendall", "tau_attn_grad_mean", f"{metrics['analysis/kendall/tau_attn_grad_mean']:.4f}"] in rows
    assert f"  {run_dir / 'analysis' / 'kendall.csv'}" in out.splitlines()
    assert (
        f"record: added the results to {run_dir / 'run.json'}; the earlier record is kept as {run_dir / 'run.1.json'}"
    ) in out.splitlines()


def test_train_ends_with_its_validation_and_test_metrics(study: dict[str, Any]) -> None:
    base = study["base"]
    out = ok(cli(command("attnbench-train", *NEEDLE, "logger=none", "hydra.run.dir=train"), base))
    record = record_of(base / "train")
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["metric", "val", "test"])
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 2 : header + 5]}
    m = record["metrics"]
    assert rows["acc"] == [f"{m['val/acc']:.4f}", f"{m['test/acc']:.4f}"]
    assert rows["loss"] == [f"{m['val/loss']:.4f}", f"{m['test/loss']:.4f}"]
    assert lines[-2:] == [f"checkpoint: {record['checkpoint']}", f"record:     {base / 'train' / 'run.json'}"]


def test_no_run_without_runs_says_how_to_run_them(study: dict[str, Any]) -> None:
    proc = cli(command("attnbench-study", "tiny.yaml", "--no-run", "--sweep-dir", "empty"), study["base"])
    assert proc.returncode == 1
    assert "no runs of study tiny in empty yet" in proc.stderr
    assert "Run them (and get the results) with: attnbench-study tiny.yaml --sweep-dir empty" in proc.stderr


def menu_of_help(text: str) -> dict[str, set[str]]:
    """``group → options`` from the ``--help`` lines ``  group  what it is: a | b | c``."""
    menu = {}
    for line in text.splitlines():
        found = re.match(r"^  (\w+) +(.+): ([\w| ]+)$", line)
        if found:
            menu[found[1]] = {o.strip() for o in found[3].split("|")}
    return menu


def menu_of_docs(text: str) -> dict[str, set[str]]:
    """``group → options`` from the docs' menu table rows ``| `group` | what it is | `a`, `b` |``."""
    menu = {}
    for line in text.splitlines():
        found = re.match(r"^\| `(\w+)` \|[^|]+\| (.+) \|$", line)
        if found:
            menu[found[1]] = set(re.findall(r"`([^`]+)`", found[2]))
    return menu


def test_help_shows_the_menu_of_the_docs(study: dict[str, Any]) -> None:
    text = ok(cli(command("attnbench-train", "--help"), study["base"]))
    assert text.startswith("attnbench-train [group=option ...]") and "schema/" not in text
    menu = menu_of_help(text)
    assert menu == menu_of_docs(DOCS.read_text())
    for group, choices in menu.items():  # every option file, and only those
        assert choices == {p.stem for p in (config_dir() / group).glob("*.yaml")}, group
    assert {"encoder", "attention", "data", "model", "analysis"} <= set(menu)
    evaluate = ok(cli(command("attnbench-eval", "--help"), study["base"]))
    assert evaluate.startswith("attnbench-eval CHECKPOINT|RUN_DIR") and menu_of_help(evaluate) == menu
    analyze = ok(cli(command("attnbench-analyze", "--help"), study["base"]))
    assert analyze.startswith("attnbench-analyze") and menu_of_help(analyze) == menu


def test_a_bare_help_is_hydras_help_without_its_slow_group_listing(tmp_path: Path) -> None:
    """A bare ``--help`` is answered by attnbench.cli.help (Hydra lists ~200 schema groups first: 5-14 s);
    with an override beside it Hydra answers: the two texts are the same. No entry point imports torch
    before a run starts."""
    hydra_help = ok(cli([sys.executable, "-m", "attnbench.train", "trainer=cpu", "--help"], tmp_path))
    assert ok(cli(command("attnbench-train", "--help"), tmp_path)) == hydra_help
    assert ok(cli([sys.executable, "-m", "attnbench.train", "-h"], tmp_path)) == hydra_help
    probe = (
        "import sys, attnbench.train, attnbench.evaluate, attnbench.cli.analyze, attnbench.cli.study; "
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'sklearn', 'datasets') if m in sys.modules))"
    )
    assert ok(cli([sys.executable, "-c", probe], tmp_path)).strip() == "[]"


def test_the_runs_configuration_with_the_overrides_given(study: dict[str, Any], tmp_path: Path) -> None:
    """From the run record: the run's data and model, an override inside a group reaching the model too.
    From a bare checkpoint (no run.json above it): the model settings of its hyperparameters."""
    run_dir = study["runs"]["additive"]
    given = ["encoder.hidden_size=16", "data.eval_batch_size=3"]
    cfg = trained_config(compose_config([f"ckpt_path={quoted(run_dir)}", *given], config_name="eval"), given)
    assert cfg.ckpt_path == record_of(run_dir)["checkpoint"]
    assert (cfg.model.encoder.hidden_size, cfg.encoder.hidden_size, cfg.model.attention.score) == (16, 16, "additive")
    assert (cfg.data.name, cfg.data.eval_batch_size, cfg.data.synthetic.num_test) == ("needle", 3, 16)
    assert cfg.model.embedding_dim == 8 and cfg.task_name == "eval" and cfg.seed == 42
    bare = tmp_path / "best.ckpt"
    bare.write_bytes(Path(cfg.ckpt_path).read_bytes())
    given = ["data=needle", "model.dropout=0.5"]
    cfg = trained_config(compose_config([f"ckpt_path={bare}", *given], config_name="eval"), given)
    assert (cfg.model.embedding_dim, cfg.model.dropout, cfg.model.encoder.hidden_size) == (8, 0.5, 8)
    assert cfg.model.attention.score == "additive" and cfg.data.synthetic.num_test != 16  # the data is the command's


def test_a_greedy_seq2seq_checkpoint_evaluates_with_beam_search(make_cfg: Any, tmp_path: Path) -> None:
    """``decode=beam`` on a checkpoint trained with greedy decoding: the run's model, another decoding (the
    decoding settings shape no weights, so the checkpoint fits)."""
    tiny = [
        "task=seq2seq", "trainer=cpu", "trainer.max_epochs=1", "data.generate.length=[3]", "data.generate.num_train=16",
        "data.generate.num_val=4", "data.generate.num_test=4", "model.embedding_dim=8", "encoder.hidden_size=4",
        "decoder.hidden_size=8", "attention=dot", "callbacks.rich_progress_bar=null", "logger=none",
    ]  # fmt: skip
    trained = run(make_cfg(*tiny, tiny=False, name="train"))
    given = ["decode=beam", "decode.beam_size=3", "logger=none"]
    cfg = make_cfg(f"ckpt_path={quoted(tmp_path / 'train')}", *given, tiny=False, name="eval", config_name="eval")
    evaluated = run(trained_config(cfg, given))
    assert evaluated["status"] == "completed", evaluated.get("error")
    config = evaluated["config"]
    assert config["decode"]["beam_size"] == config["model"]["decode"]["beam_size"] == 3  # what the model decodes by
    assert config["model"]["encoder"]["hidden_size"] == 4 and config["model"]["_target_"].endswith("Seq2SeqTask")
    assert evaluated["checkpoint"] == trained["checkpoint"] and "test/acc" in evaluated["metrics"]
