"""Analyses of a trained model: after training (``analysis=[...]`` on any run or study) or of a saved
checkpoint (``attnbench-analyze``), and the run record they go into.

The summary goes into the run's ``run.json`` under ``metrics`` (``analysis/<name>/<statistic>``, so
reports read it like any metric) and what was run under ``analysis``; the per-example tables and the
summary go to ``<run_dir>/analysis/``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from attnbench.analysis.adapter import NotAnalysable, explainer
from attnbench.analysis.session import analyse_run, chosen
from attnbench.data import TextClassificationDataModule
from attnbench.fitters import build_loggers
from attnbench.reporting.examples_run import run_examples
from attnbench.runtime.checkpoints import load_checkpoint, load_weights, restore_data_state
from attnbench.runtime.numerics import set_numerics
from attnbench.runtime.record import RUN_FILE, read_run_record, write_json_atomic, write_run_record
from attnbench.runtime.run_record import RunRecord, summarize_loggers
from attnbench.runtime.trained_config import run_dir_of, trained_config

log = logging.getLogger(__name__)


class AnalysisError(ValueError):
    """An analysis that cannot run as configured; the message says what to change."""


def load_trained(cfg: DictConfig, ckpt_path: str | Path, dm: TextClassificationDataModule | None = None) -> tuple:
    """The model of ``cfg.model`` with the weights of ``ckpt_path`` (checked to match), and a data module
    with the checkpoint's tokenizer and labels, set up (or ``dm``, already set up)."""
    checkpoint = load_checkpoint(ckpt_path)
    if dm is None:
        dm = instantiate(cfg.data)
        restore_data_state(dm, checkpoint)
        dm.setup("test")
    model = instantiate(cfg.model, vocab_size=dm.vocab_size, num_classes=dm.num_classes, **dm.model_kwargs())
    load_weights(model, checkpoint, ckpt_path)
    return model, dm


def analyse_trained(cfg: DictConfig, model: nn.Module, dm: TextClassificationDataModule, out_dir: str | Path) -> dict:
    """Run ``cfg.analysis`` on ``model`` over ``dm``'s test split; files under ``<out_dir>/analysis``."""
    options = cast(dict[str, Any], OmegaConf.to_container(cfg.analysis, resolve=True))
    others = []
    if "seed_agreement" in chosen(options):
        paths = options["seed_agreement"]["ckpt_paths"]
        if not paths:
            raise AnalysisError(
                "analysis=seed_agreement needs analysis.seed_agreement.ckpt_paths=[...]: "
                "checkpoints of this configuration trained with other seeds"
            )
        others = [load_trained(cfg, p, dm)[0] for p in paths]
    gold = dm.example_meta.get("test", {}).get("gold")
    return analyse_run(model, dm.datasets["test"], options, out_dir, gold=gold, others=others)


def info_of(cfg: DictConfig, ckpt_path: str | None) -> dict[str, Any]:
    """What the ``analysis`` block of ``run.json`` says: the checkpoint, the measurements, the options."""
    options = cast(dict[str, Any], OmegaConf.to_container(cfg.analysis, resolve=True))
    return {"checkpoint": ckpt_path, "measurements": chosen(options), "options": options}


def analyse_fitted(
    cfg: DictConfig, model: Any, dm: TextClassificationDataModule, record: RunRecord
) -> dict[str, float]:
    """After a run: analyse the tested model (the best checkpoint when training kept one) on rank 0;
    the summary comes back for the run's metrics. A model without attention weights is not analysed
    (``run.json`` says why under ``analysis.skipped``)."""
    if getattr(rank_zero_only, "rank", 0) != 0:
        return {}
    try:  # a study may mix attention models with baselines: the baselines' analysis is skipped, said so
        explainer(model)
    except NotAnalysable as err:
        log.warning("analysis skipped: %s", err)
        record.fields["analysis"] = {"skipped": str(err)}
        return {}
    best = record.fields.get("checkpoint")
    if cfg.train and best:
        load_weights(model, load_checkpoint(best), best)
    with record.timed("analysis_s"):
        summary = analyse_trained(cfg, model, dm, record.run_dir)
    record.fields["analysis"] = info_of(cfg, best)
    return summary


def write_run_examples(cfg: DictConfig, model: nn.Module, dm: TextClassificationDataModule, n: int, out: Path) -> None:
    """``examples=N``: ``out/examples.{html,tex}``, N informative test examples shaded token by token."""
    given = cfg.analysis  # with analysis=[...]: its chunk, ig_steps, leave-one-out and device; else the schema's
    device = given.device if given is not None else "auto"
    paths = run_examples(model, dm, n, out, analysis=given, seed=int(cfg.seed), device=device)
    log.info("highlighted examples: %s", ", ".join(map(str, paths)))


def record_analysis(run_dir: Path, summary: dict[str, float], info: dict[str, Any]) -> Path:
    """Merge ``summary`` into ``<run_dir>/run.json``'s metrics (replacing earlier results of the same
    measurements) and ``info`` under ``analysis``; the earlier record is kept as ``run.<n>.json``, whose
    path comes back."""
    path = run_dir / RUN_FILE
    record = read_run_record(path)
    redone = {key.split("/")[1] for key in summary if key.startswith("analysis/")}
    kept = {k: v for k, v in (record.get("metrics") or {}).items() if not _belongs(k, redone)}
    record["metrics"] = dict(sorted({**kept, **summary}.items()))
    record["analysis"] = info
    before = set(run_dir.glob("run.*.json"))
    write_run_record(run_dir, record)
    return max(set(run_dir.glob("run.*.json")) - before, default=path)


def _belongs(key: str, names: set[str]) -> bool:
    parts = key.split("/")
    return parts[0] == "analysis" and (len(parts) == 2 or parts[1] in names)


class Analysed(NamedTuple):
    """What ``attnbench-analyze`` did: the summary, the files it wrote, the record it went into and where
    the earlier record was kept (None: the record is new)."""

    summary: dict[str, float]
    written: list[Path]
    record: Path
    earlier: Path | None


def analyze(cfg: DictConfig) -> Analysed:
    """``attnbench-analyze``: analyse ``cfg.ckpt_path`` (a checkpoint, or a run directory: its best one)
    with the configuration its run recorded plus this command's overrides; files and summary into its
    run directory (``analysis.run_dir``, else the run holding the checkpoint, else this job's output
    directory). ``examples=N`` also writes N highlighted test examples (alone, or with analyses)."""
    examples = int(cfg.get("examples") or 0)
    if cfg.analysis is None and not examples:
        raise AnalysisError(
            "choose the analyses: analysis=[kendall,permutation,adversarial,erasure,eraser,...], "
            "and/or examples=N (highlighted test examples)"
        )
    set_numerics(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    cfg = trained_config(cfg)
    owner = run_dir_of(cfg.ckpt_path)
    chosen_dir = cfg.analysis.run_dir if cfg.analysis is not None else None
    target = Path(chosen_dir) if chosen_dir else owner or Path(cfg.paths.output_dir)
    started = time.time() - 1  # file times may be coarser than the clock
    model, dm = load_trained(cfg, cfg.ckpt_path)
    if examples:
        write_run_examples(cfg, model, dm, examples, target / "analysis")
    if cfg.analysis is None:
        written = sorted(p for p in (target / "analysis").glob("examples.*") if p.stat().st_mtime >= started)
        return Analysed({}, written, target / RUN_FILE, None)
    summary = analyse_trained(cfg, model, dm, target)
    info = info_of(cfg, str(Path(cfg.ckpt_path).resolve()))
    earlier = None
    if (target / RUN_FILE).is_file():
        earlier = record_analysis(target, summary, info)
    else:
        write_json_atomic(
            target / RUN_FILE,
            {
                "status": "completed",
                "config": OmegaConf.to_container(cfg),
                "metrics": summary,
                "analysis": info,
                "run_dir": str(target),
            },
        )
    summarize_loggers(build_loggers(cfg.get("logger")), summary, 0, "success")
    written = sorted(p for p in (target / "analysis").rglob("*") if p.is_file() and p.stat().st_mtime >= started)
    return Analysed(summary, written, target / RUN_FILE, earlier)
