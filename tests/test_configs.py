"""Every option of every config group composes and builds; a mistyped key fails at compose time."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import yaml
from hydra.errors import ConfigCompositionException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from attnbench.config import ConfigKeyError, validate
from attnbench.data.batching import collate
from attnbench.data.seq2seq.batching import collate_pairs
from attnbench.data.seq2seq.vocab import SPECIALS, Vocab
from attnbench.fitters import build_callbacks, build_loggers
from attnbench.models.tfidf import is_classical
from attnbench.train import run

from .helpers import CONF, compose_config, error_chain

# ---- every option ------------------------------------------------------------------------------


def group_options() -> list[tuple[str, str]]:
    """``(group, option)`` for every YAML file under a group directory of ``conf/`` (nested ones too)."""
    options = []
    for group_dir in sorted(p for p in CONF.iterdir() if p.is_dir()):
        for path in sorted(group_dir.rglob("*.yaml")):
            option = path.relative_to(group_dir).with_suffix("")
            if group_dir.name == "hydra" and len(option.parts) > 1:  # Hydra's own groups: hydra/launcher/slurm.yaml
                options.append((f"hydra/{option.parent.as_posix()}", option.name))
            else:
                options.append((group_dir.name, option.as_posix()))
    return options


OPTIONS = group_options()


def test_the_option_list_sees_every_group() -> None:
    groups = {g for g, _ in OPTIONS}
    expected = {"data", "encoder", "attention", "pooling", "model", "trainer", "logger", "callbacks", "paths", "debug"}
    assert expected <= groups
    assert ("encoder", "conv1d") in OPTIONS and ("attention", "additive") in OPTIONS


def targets(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["_target_"]] if "_target_" in node else []
        return found + [t for v in node.values() for t in targets(v)]
    if isinstance(node, list):
        return [t for v in node for t in targets(v)]
    return []


def tiny_batch(vocab_size: int) -> Any:
    g = torch.Generator().manual_seed(0)
    items = [(torch.randint(2, vocab_size, (n,), generator=g), i % 2, i) for i, n in enumerate((7, 3))]
    return collate(items)


# options that only make sense inside the seq2seq task preset: composed with task=seq2seq
SEQ2SEQ_ONLY = {("model", "seq2seq"), ("task", "seq2seq")}


def build_and_run_seq2seq(cfg: DictConfig) -> None:
    """The seq2seq task builds from the composed config and runs one teacher-forced batch."""
    vocab = Vocab("char", [*SPECIALS, *"abcdef"])
    model = instantiate(
        cfg.model,
        source_vocab_size=len(vocab),
        target_vocab_size=len(vocab),
        target_vocab=vocab.to_dict(),
        length_edges=[3, 7],
        length_labels=["3", "7"],
        longest_target=7,
    ).eval()
    g = torch.Generator().manual_seed(0)
    batch = collate_pairs(
        [(torch.randint(4, len(vocab), (n,), generator=g),) * 2 + (n, i) for i, n in enumerate((7, 3))]
    )
    with torch.no_grad():
        logits = model(batch).logits
    assert logits.shape == (2, 8, len(vocab)) and torch.isfinite(logits).all()


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_builds(group: str, option: str, tmp_path: Path) -> None:
    task = ["task=seq2seq"] if (group, option) in SEQ2SEQ_ONLY else []
    cfg = compose_config([*task, f"{group}={option}"], output_dir=tmp_path / "out")
    resolved = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves

    # Every `_target_` anywhere in the config names something importable.
    for target in targets(resolved):
        assert callable(get_object(target)), target

    # Trainer arguments (including those set by debug/* presets) are real `pl.Trainer` arguments.
    trainer_args = set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}
    unknown = set(cfg.trainer) - trainer_args
    assert not unknown, f"trainer keys that pl.Trainer does not take: {unknown}"

    # The data module accepts its config; the model builds from encoder × attention × pooling and runs
    # (a classical baseline builds from its own settings; tests/test_baselines.py runs it).
    instantiate(cfg.data)
    if is_classical(cfg.model):
        instantiate(cfg.model, seed=cfg.seed)
    elif task:
        build_and_run_seq2seq(cfg)
    else:
        model = instantiate(cfg.model, vocab_size=30, num_classes=5).eval()
        batch = tiny_batch(30)
        with torch.no_grad():
            logits = model(batch.ids, batch.lengths, batch.mask)
        assert logits.shape == (2, 5) and torch.isfinite(logits).all()

    # Callbacks and (non-W&B; see test_wandb.py) loggers instantiate.
    callbacks = build_callbacks(cfg.callbacks, has_logger=True)
    assert all(isinstance(c, pl.Callback) for c in callbacks)
    assert len(callbacks) == sum(1 for c in cfg.callbacks.values() if c is not None and "_target_" in c)
    plain_loggers = {k: v for k, v in OmegaConf.to_container(cfg.logger, resolve=True).items() if k != "wandb"}
    loggers = build_loggers(DictConfig(plain_loggers))
    assert all(isinstance(lg, pl.loggers.Logger) for lg in loggers)


def test_defaults() -> None:
    cfg = compose_config()
    assert cfg.encoder.name == "bilstm" and cfg.attention.name == "none" and cfg.pooling.mode == "last"
    assert cfg.logger.wandb.mode == "auto"
    assert cfg.trainer.use_distributed_sampler is False
    assert cfg.experiment is None and cfg.debug is None


def test_eval_config_composes() -> None:
    cfg = compose_config(["ckpt_path=/some/model.ckpt"], output_dir="/tmp/x", config_name="eval")
    assert cfg.task_name == "eval" and cfg.train is False and cfg.test is True
    assert cfg.ckpt_path == "/some/model.ckpt"
    assert cfg.logger.wandb.job_type == "eval"


def test_split_seed_is_independent_of_training_seed() -> None:
    a, b = compose_config(["seed=1"]), compose_config(["seed=2"])
    assert a.data.split_seed == b.data.split_seed
    assert (a.data.seed, b.data.seed) == (1, 2)  # the batch order follows the training seed


def test_debug_presets_set_the_trainer() -> None:
    assert compose_config(["debug=fdr"]).trainer.fast_dev_run is True
    limit = compose_config(["debug=limit"]).trainer
    assert limit.limit_train_batches == 4 and limit.max_epochs == 2
    overfit = compose_config(["debug=overfit"])
    assert overfit.trainer.overfit_batches == 1 and overfit.callbacks.early_stopping is None


# ---- typos fail at compose time, naming the key ------------------------------------------------


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("encoder.hiden_size=3", "hiden_size"),
        ("encoder={hiden_size:3}", "hiden_size"),  # a YAML dict override
        ("model.optimizer={lr:0.1,wieght_decay:0.1}", "wieght_decay"),
        ("trainer.max_epoch=3", "max_epoch"),
        ("data.max_lenght=10", "max_lenght"),
        ("seeed=1", "seeed"),
        ("encoder.hidden_size=abc", "encoder.hidden_size"),  # wrong type
        ("pooling.mode=[1,2]", "pooling.mode"),
    ],
)
def test_mistyped_override_fails_at_compose_time(override: str, key: str) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose_config([override])
    assert key in error_chain(info.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("+encoder.hiden_size=3", "encoder.hiden_size"),
        ("+seeed=1", "seeed"),
        ("+model.optimizer.learning_rate=0.1", "model.optimizer.learning_rate"),
        ("+data.max_lenght=10", "data.max_lenght"),
        ("+trainer.max_epoch=3", "trainer.max_epoch"),
        ("+callbacks.early_stopping.patiense=3", "callbacks.early_stopping.patiense"),
    ],
)
def test_mistyped_appended_key_fails_before_training(override: str, key: str, tmp_path: Path) -> None:
    """``+key=value`` opens Hydra's schemas; ``validate`` (first thing ``run`` does) closes the gap."""
    cfg = compose_config([override], output_dir=tmp_path)
    with pytest.raises(ConfigKeyError, match=re.escape(key)):
        validate(cfg)
    with pytest.raises(ConfigKeyError, match=re.escape(key)):
        run(cfg)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "failed" and key in record["error"]


def test_appended_trainer_argument_is_accepted() -> None:
    validate(compose_config(["+trainer.profiler=simple", "+trainer.detect_anomaly=false"]))


@pytest.fixture
def extra_conf(tmp_path: Path) -> Path:
    """A second config directory, added with ``hydra.searchpath``, for files written by tests."""
    root = tmp_path / "extra_conf"
    (root / "experiment").mkdir(parents=True)
    (root / "encoder").mkdir()
    return root


def test_experiment_file_from_searchpath_composes(extra_conf: Path) -> None:
    (extra_conf / "experiment" / "small_cnn.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /encoder: conv1d\n\nencoder:\n  filters: 7\nseed: 3\n"
    )
    cfg = compose_config([f"hydra.searchpath=[file://{extra_conf}]", "experiment=small_cnn"])
    assert (cfg.encoder.name, cfg.encoder.filters, cfg.seed) == ("conv1d", 7, 3)


def test_mistyped_key_in_experiment_file_fails(extra_conf: Path) -> None:
    (extra_conf / "experiment" / "typo.yaml").write_text("# @package _global_\nencoder:\n  hiden_size: 3\n")
    with pytest.raises(ConfigCompositionException) as info:
        compose_config([f"hydra.searchpath=[file://{extra_conf}]", "experiment=typo"])
    assert "hiden_size" in error_chain(info.value)


def test_mistyped_key_in_group_option_file_fails(extra_conf: Path) -> None:
    (extra_conf / "encoder" / "bilstm_typo.yaml").write_text(
        "defaults:\n  - /schema/encoder/bilstm@_here_\n  - _self_\n\nhiden_size: 3\n"
    )
    with pytest.raises(ConfigCompositionException) as info:
        compose_config([f"hydra.searchpath=[file://{extra_conf}]", "encoder=bilstm_typo"])
    assert "hiden_size" in error_chain(info.value)


def test_every_shipped_option_extends_a_schema() -> None:
    """Options that hold settings start from a schema, so their keys are checked (lists and empty
    options such as `logger/none` have nothing to check)."""
    unchecked = []
    for group, option in OPTIONS:
        if group.split("/")[0] in ("hydra", "debug", "experiment"):
            continue  # hydra's own schema; `_global_` presets are checked by the nodes they write to
        body = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
        defaults = [str(d) for d in body.get("defaults", [])]
        settings = {k: v for k, v in body.items() if k != "defaults"}
        # a schema directly, or another option of the group (e.g. trainer/cpu extends trainer/default)
        extends = [d for d in defaults if d != "_self_"]
        if settings and not extends:
            unchecked.append(f"{group}/{option}")
    assert not unchecked, f"options without a schema: {unchecked}"
