"""Logger factories. W&B goes online only with credentials and never blocks on the network.

Every logger continues its files when a run resumes from a checkpoint (:class:`ContinueLoggers`): W&B
reopens the run of the run's id, :class:`ResumableCSVLogger` keeps the rows logged before the
checkpoint, :class:`ResumableTensorBoardLogger` hides the events logged after it.
"""

from __future__ import annotations

import csv
import logging
import netrc
import os
import warnings
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from tensorboard.compat.proto.event_pb2 import Event, SessionLog

from attnbench.config.runtime import WandbConfig
from attnbench.runtime.distributed import process_rank

log = logging.getLogger(__name__)

WandbMode = Literal["online", "offline", "disabled", "shared"]  # the modes wandb.init's annotation names


def wandb_credentials_present() -> bool:
    """True when an API key is in the environment or in ~/.netrc for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].split("/")[0]
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(path).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: str) -> str:
    """``auto`` → ``online`` with credentials, else ``offline``. ``WANDB_MODE`` in the environment wins."""
    env = os.environ.get("WANDB_MODE")
    if env:
        return "offline" if env == "dryrun" else env
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ValueError(f"logger.wandb.mode={mode!r}; use auto, online, offline or disabled")
    if mode == "auto":
        return "online" if wandb_credentials_present() else "offline"
    return mode


def wandb_logger(
    project: str,
    save_dir: str,
    mode: str = WandbConfig.mode,
    entity: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    log_model: bool = WandbConfig.log_model,
    init_timeout: float = WandbConfig.init_timeout,
    id: str | None = None,
) -> WandbLogger:
    """A ``WandbLogger`` for one job (one W&B run), files under ``save_dir/wandb``.

    ``id`` (the run's id, the same in every attempt of a run: :mod:`attnbench.runtime.attempts`) makes a
    resumed run continue its W&B run (``resume="allow"``). Offline, each attempt writes its own
    ``offline-run-<time>-<id>`` directory with that id; ``wandb sync`` uploads them, in start order, as
    that one run.

    Online init waits at most ``init_timeout`` seconds, then the run falls back to offline mode so
    a flaky network never stalls a sweep.
    """
    import wandb  # here, not at the top: it takes seconds to import and most runs log elsewhere

    if process_rank() != 0:  # DDP workers: Lightning gives them a no-op experiment
        return WandbLogger(project=project, save_dir=save_dir, log_model=log_model)
    resolved = resolve_wandb_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)

    def init(mode: str, settings: wandb.Settings) -> None:
        wandb.init(
            project=project,
            entity=entity,
            group=group,
            job_type=job_type,
            name=name,
            tags=list(tags or []),
            dir=save_dir,
            reinit="finish_previous",
            id=id or None,
            resume="allow" if id else None,
            # a WANDB_MODE from the environment goes through as given: wandb validates it (its settings
            # accept more modes than init's annotation names)
            mode=cast(WandbMode, mode),
            settings=settings,
        )

    if resolved == "online":
        try:
            init("online", wandb.Settings(init_timeout=init_timeout, silent=True))
        except Exception as err:  # network or auth trouble: keep the run, log offline
            log.warning("W&B online init failed (%s); logging offline instead", err)
            resolved = "offline"
    if resolved != "online":
        init(resolved, wandb.Settings(silent=True))
    assert wandb.run is not None, "wandb.init above started the run"
    log.info("W&B run %s (%s)", wandb.run.id, resolved)
    # WandbLogger attaches to the active run created above (one run per job).
    return WandbLogger(project=project, save_dir=save_dir, log_model=log_model, experiment=wandb.run)


@runtime_checkable
class Continuable(Protocol):
    def continue_from(self, step: int | None) -> None:
        """The fit starts at global ``step`` of a checkpoint (None: a fresh start, earlier files go)."""


class ContinueLoggers(pl.Callback):
    """Tells each :class:`Continuable` logger where the fit starts, once the checkpoint is restored."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        step = trainer.global_step if trainer.ckpt_path else None
        for lg in trainer.loggers:
            if isinstance(lg, Continuable):
                lg.continue_from(step)


# Lightning warns "Previous log files in this directory will be deleted when the new ones are saved!" when
# the CSV log directory exists; ResumableCSVLogger keeps those rows (set aside, merged back on resume),
# so the warning would say the opposite of what happens.
warnings.filterwarnings("ignore", message=r".*Previous log files in this directory will be deleted")


class ResumableCSVLogger(CSVLogger):
    """Lightning's ``CSVLogger``, whose ``metrics.csv`` keeps its history when the run resumes.

    Lightning deletes an existing ``metrics.csv`` when it opens the log directory; this logger sets it
    aside first (``.metrics.before-resume.csv``). Resumed at global step G, the rows logged at steps
    below G (everything up to the checkpoint: its epoch-end rows are logged at G - 1) come back in front
    of the new ones, so each epoch's row appears once and steps increase; rows the killed attempt
    logged after the checkpoint are logged again by the resumed fit. A fresh start drops them, as
    Lightning does. Until the merged file is written the set-aside one stays: a second kill loses nothing.
    """

    ASIDE = ".metrics.before-resume.csv"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._earlier: Path | None = None
        if process_rank() == 0:
            current, aside = Path(self.log_dir) / "metrics.csv", Path(self.log_dir) / self.ASIDE
            if current.is_file() and not aside.is_file():  # with both, an attempt died before merging
                os.replace(current, aside)
            self._earlier = aside if aside.is_file() else None

    def continue_from(self, step: int | None) -> None:
        if self._earlier is None:
            return
        if step is not None:
            with open(self._earlier, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("step") and float(r["step"]) < step]
            # the values go back as they were read (no float round trip); empty cells are absent keys
            self.experiment.metrics[:0] = [{k: v for k, v in r.items() if v != ""} for r in rows]
            self.experiment.save()
        self._earlier.unlink()
        self._earlier = None


class ResumableTensorBoardLogger(TensorBoardLogger):
    """Lightning's ``TensorBoardLogger`` in a fixed log directory; resumed at global step G it writes
    TensorBoard's restart marker (what ``SummaryWriter(purge_step=G)`` writes), so TensorBoard drops
    the events the killed attempt logged at steps G and later and each step's point appears once."""

    def continue_from(self, step: int | None) -> None:
        if step is None or process_rank() != 0:
            return
        writer = self.experiment.file_writer
        writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
        writer.flush()
