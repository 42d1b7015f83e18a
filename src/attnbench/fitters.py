"""How a model is fit and tested, behind one interface: :class:`LightningFitter` runs a task (a
LightningModule) with a ``pytorch_lightning.Trainer``; :class:`ClassicalFitter` runs a scikit-learn
baseline (:mod:`attnbench.models.tfidf`) on the same splits, without Trainer or checkpoint.
:func:`build_fitter` picks one from ``cfg.model``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger

from attnbench.models.tfidf import evaluate_split, is_classical
from attnbench.runtime.callbacks import ResumeRandomState
from attnbench.runtime.checkpoints import AtomicCheckpointIO, check_compatible, load_weights
from attnbench.runtime.distributed import build_strategy, end_distributed
from attnbench.runtime.guards import RecordOptimizer, StopOnNonFiniteLoss
from attnbench.runtime.loggers import ContinueLoggers
from attnbench.runtime.resume import ResumePoint
from attnbench.runtime.run_record import RunRecord
from attnbench.runtime.throughput import Throughput
from attnbench.tasks import count_parameters

log = logging.getLogger(__name__)


class Fitter(Protocol):
    """What a run asks of a model. ``fit`` trains and returns the validation metrics, ``test`` returns
    the test metrics (both ``split/metric``); leaving the ``with`` block releases what fitting held."""

    def fit(self, dm: Any) -> dict[str, float]: ...

    def test(self, dm: Any) -> dict[str, float]: ...

    def __enter__(self) -> Fitter: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def build_loggers(cfg: DictConfig | None, run_id: str | None = None) -> list[Logger]:
    """The configured loggers; one whose config has ``id: null`` (W&B) gets ``run_id``, the id every
    attempt of this run shares, so a resumed run continues the same logger run."""
    loggers = []
    for c in (cfg or {}).values():
        if c is not None and "_target_" in c:
            loggers.append(instantiate(c, id=run_id) if "id" in c and c.id is None else instantiate(c))
    return loggers


def build_callbacks(cfg: DictConfig | None, has_logger: bool) -> list[pl.Callback]:
    callbacks = []
    for name, c in (cfg or {}).items():
        if c is None or "_target_" not in c:
            continue
        if name == "lr_monitor" and not has_logger:
            log.warning("callbacks.lr_monitor needs a logger; skipped because logger=none")
            continue
        callbacks.append(instantiate(c))
    return callbacks


def _metric(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def start_checkpoint(start: ResumePoint | None, model: pl.LightningModule) -> str | None:
    """The checkpoint ``fit`` starts from (:func:`attnbench.runtime.resume.find_resume` chose it: the
    ``ckpt_path`` given, or the run directory's ``last.ckpt`` with ``resume=true``), or None for a fresh
    start. A checkpoint of another model configuration fails with the differing keys, whichever way it
    came: its optimizer state would otherwise replace the configured learning rate without a word."""
    if start is None or start.path is None or start.checkpoint is None:
        return None
    hint = "or leave out ckpt_path to train afresh" if start.explicit else "or resume=false to start afresh"
    check_compatible(model, start.checkpoint, start.path, hint=hint)
    return str(start.path)


def build_task(cfg: DictConfig, dm: Any, checkpoint: dict[str, Any] | None, record: RunRecord) -> pl.LightningModule:
    """The task ``cfg.model`` names, sized by the data; weights from ``checkpoint`` (evaluation) or
    the data's pretrained vectors."""
    model = instantiate(cfg.model, **dm.task_kwargs())
    if dm.embeddings is not None and checkpoint is None:  # a checkpoint's weights hold the vectors already
        model.load_pretrained_embeddings(dm.embeddings)
    if checkpoint is not None:
        load_weights(model, checkpoint, cfg.ckpt_path)
        record.fields["checkpoint"] = str(Path(cfg.ckpt_path).resolve())
    record.fields["params"] = count_parameters(model)
    return model


class LightningFitter:
    """A task fit and tested by a ``pytorch_lightning.Trainer`` built from ``cfg.trainer``,
    ``cfg.logger`` and ``cfg.callbacks`` (plus ``extra_callbacks``)."""

    def __init__(
        self,
        cfg: DictConfig,
        model: pl.LightningModule,
        record: RunRecord,
        extra_callbacks: list[pl.Callback],
        start: ResumePoint | None = None,
    ) -> None:
        self.cfg, self.model, self.record, self.start = cfg, model, record, start
        record.loggers = build_loggers(cfg.get("logger"), record.fields["run_id"])
        self.throughput = Throughput()  # timings/train_examples_per_s, ... in run.json
        self.callbacks = build_callbacks(cfg.get("callbacks"), has_logger=bool(record.loggers)) + extra_callbacks
        # a resumed fit continues the loggers' files and the random numbers where the checkpoint left them
        self.callbacks += [self.throughput, ContinueLoggers(), ResumeRandomState(), RecordOptimizer(record.fields)]
        if not cfg.get("allow_nonfinite_loss"):  # a diverged run stops and fails (runtime/guards.py)
            self.callbacks.append(StopOnNonFiniteLoss())
        container = OmegaConf.to_container(cfg.trainer, resolve=True)
        assert isinstance(container, dict), "cfg.trainer is a mapping"
        # a DictConfig's keys are strings; to_container's annotation allows any key type
        trainer_args = cast(dict[str, Any], container)
        # strategy=ddp: Lightning's DDP with a launcher that keeps each Hydra job in its own directory
        placement = record.fields.get("placement") or {}
        if placement.get("trainer_devices") is not None:  # a worker where CUDA started: devices by index
            trainer_args["devices"] = placement["trainer_devices"]
        trainer_args["strategy"] = build_strategy(trainer_args.get("strategy", "auto"), log_stem=cfg.task_name)
        self.trainer = pl.Trainer(
            **trainer_args,
            logger=record.loggers or False,
            callbacks=self.callbacks,
            # no ModelCheckpoint configured (callbacks=none) means no checkpoints, not Lightning's default one
            enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in self.callbacks),
            default_root_dir=str(record.run_dir),
            plugins=[AtomicCheckpointIO()],  # a kill mid-write never leaves a partial checkpoint
        )
        for lg in record.loggers:
            lg.log_hyperparams(record.logged_config)

    def fit(self, dm: Any) -> dict[str, float]:
        """Train (from the checkpoint :func:`start_checkpoint` checks, if any); the validation metrics
        are those of the best checkpoint, the one that is tested."""
        fields = self.record.fields
        start_from = start_checkpoint(self.start, self.model)
        with self.record.timed("fit_s"):
            self.trainer.fit(self.model, datamodule=dm, ckpt_path=start_from, weights_only=True)
        fields["epochs"] = self.trainer.current_epoch
        ckpt_cb = self.trainer.checkpoint_callback
        if isinstance(ckpt_cb, ModelCheckpoint) and ckpt_cb.best_model_path:
            fields["checkpoint"] = str(Path(ckpt_cb.best_model_path).resolve())
            self._validate_best(dm, fields["checkpoint"])
        return self._metrics("val/")

    def _validate_best(self, dm: Any, checkpoint: str) -> None:
        """The validation metrics of the best checkpoint, logged as ``best_checkpoint/val/...``: under
        ``val/...`` they would add a point at ``epoch = max_epochs`` to every per-epoch curve."""
        loggers = self.trainer.loggers
        self.trainer.loggers = []
        try:
            self.trainer.validate(self.model, datamodule=dm, ckpt_path=checkpoint, weights_only=True, verbose=False)
        finally:
            self.trainer.loggers = loggers
        best = {f"best_checkpoint/{k}": v for k, v in self._metrics("val/").items()}
        for lg in loggers:
            lg.log_metrics(best, step=self.trainer.global_step)

    def test(self, dm: Any) -> dict[str, float]:
        """Test the best checkpoint of this fit, or the model as it is (evaluation of a checkpoint)."""
        best = self.record.fields["checkpoint"] if self.cfg.train else None
        with self.record.timed("test_s"):
            self.trainer.test(self.model, datamodule=dm, ckpt_path=best, weights_only=True, verbose=False)
        return self._metrics("test/")

    def _metrics(self, prefix: str) -> dict[str, float]:
        return {k: _metric(v) for k, v in self.trainer.callback_metrics.items() if k.startswith(prefix)}

    def __enter__(self) -> LightningFitter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.record.timings.update(self.throughput.timings())
        # wait for the other ranks, close the process group: the next run in this process starts clean
        end_distributed(self.trainer.strategy)
        self.record.step = self.trainer.global_step


class ClassicalFitter:
    """A scikit-learn baseline (``cfg.model``, seeded by ``cfg.seed``): fit on the train split,
    evaluated on val and test with the metrics the tasks log. It keeps no checkpoint to evaluate."""

    def __init__(self, cfg: DictConfig, record: RunRecord) -> None:
        if not cfg.train:
            raise ValueError(f"{cfg.model._target_} keeps no checkpoint to evaluate; run it with train=true")
        self.record = record
        record.loggers = build_loggers(cfg.get("logger"), record.fields["run_id"])
        for lg in record.loggers:
            lg.log_hyperparams(record.logged_config)
        self.model = instantiate(cfg.model, seed=cfg.seed)

    def fit(self, dm: Any) -> dict[str, float]:
        train = dm.datasets["train"]
        with self.record.timed("fit_s"):
            self.model.fit(train)
        self.record.fields.update(params=self.model.num_parameters, features=self.model.num_features)
        fit_s, tokens = self.record.timings["fit_s"], sum(train.text_lengths) + sum(train.pair_lengths or [])
        self.record.timings.update(train_examples_per_s=len(train) / fit_s, train_tokens_per_s=tokens / fit_s)
        return evaluate_split(self.model, dm, "val").metrics("val")

    def test(self, dm: Any) -> dict[str, float]:
        with self.record.timed("test_s"):
            metrics = evaluate_split(self.model, dm, "test").metrics("test")
        self.record.timings["eval_examples_per_s"] = len(dm.datasets["test"]) / self.record.timings["test_s"]
        return metrics

    def __enter__(self) -> ClassicalFitter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def build_fitter(
    cfg: DictConfig,
    dm: Any,
    checkpoint: dict[str, Any] | None,
    record: RunRecord,
    extra_callbacks: list[pl.Callback] | None = None,
    start: ResumePoint | None = None,
) -> Fitter:
    """The fitter of ``cfg.model``: a classical baseline, or a task with a Lightning Trainer."""
    if is_classical(cfg.model):
        return ClassicalFitter(cfg, record)
    model = build_task(cfg, dm, checkpoint, record)
    return LightningFitter(cfg, model, record, list(extra_callbacks or []), start)
