"""Logger factories. W&B goes online only with credentials and never blocks on the network.

Every logger continues its files when a run resumes from a checkpoint (:class:`ContinueLoggers`): W&B
reopens the run of the run's id, :class:`ResumableCSVLogger` keeps the rows logged before the
checkpoint, :class:`ResumableTensorBoardLogger` hides the events logged after it.
"""

from __future__ import annotations

import csv
import gc
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from attnbench.config.runtime import WandbConfig
from attnbench.runtime.distributed import process_rank

log = logging.getLogger(__name__)

WandbMode = Literal["online", "offline", "disabled", "shared"]  # the modes wandb.init's annotation names


def wandb_settings() -> Any:
    """wandb's own settings as ``wandb.init`` would read them now: its settings file (where ``wandb login
    --host`` keeps the server address; ``WANDB_CONFIG_DIR`` moves it) and the ``WANDB_*`` variables.
    Built afresh on each call, so a changed environment is seen (wandb's process-wide copy is not)."""
    import wandb  # here, not at the top: it takes seconds to import and most runs log elsewhere

    settings = wandb.Settings()
    config_dir = os.environ.get("WANDB_CONFIG_DIR")
    settings_file = Path(config_dir) / "settings" if config_dir else Path("~/.config/wandb/settings").expanduser()
    settings.settings_system = str(settings_file)
    settings.update_from_system_settings()
    settings.update_from_env_vars(dict(os.environ))
    return settings


def wandb_credentials() -> str | None:
    """Where wandb would find credentials for the server it is configured for, or None. Asked of wandb
    itself (its netrc lookup for its configured host, its identity-token and settings keys), so a
    ``wandb login`` (which writes the key under wandb's default host, or the ``--host`` it was given) is
    seen as wandb sees it."""
    from wandb.sdk.lib import wbauth  # with wandb: seconds to import

    settings = wandb_settings()
    host = settings.base_url
    if os.environ.get("WANDB_API_KEY"):
        return "WANDB_API_KEY"
    if os.environ.get("WANDB_IDENTITY_TOKEN_FILE") or settings.identity_token_file:
        return f"an identity token file for {host}"
    try:
        if wbauth.read_netrc_auth(host=host):
            return f"the netrc entry for {host}"
    except Exception as err:  # a malformed key: wandb.init would fail on it too
        log.warning("W&B: the netrc entry for %s is not usable (%s)", host, err)
        return None
    if settings.api_key:
        return f"wandb's settings for {host}"
    return None


def wandb_credentials_present() -> bool:
    """True when wandb finds credentials for its configured server (:func:`wandb_credentials`)."""
    return wandb_credentials() is not None


def resolve_wandb_mode(mode: str) -> str:
    """``auto`` → ``online`` with credentials, else ``offline``. ``WANDB_MODE`` in the environment wins.
    The choice and its reason go to the log."""
    env = os.environ.get("WANDB_MODE")
    if env:
        resolved = "offline" if env == "dryrun" else env
        log.info("W&B mode %s: WANDB_MODE=%s in the environment", resolved, env)
        return resolved
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ValueError(f"logger.wandb.mode={mode!r}; use auto, online, offline or disabled")
    if mode != "auto":
        log.info("W&B mode %s: logger.wandb.mode=%s", mode, mode)
        return mode
    source = wandb_credentials()
    if source:
        log.info("W&B mode online: logger.wandb.mode=auto and credentials from %s", source)
        return "online"
    log.info("W&B mode offline: logger.wandb.mode=auto and no credentials (WANDB_API_KEY or `wandb login`)")
    return "offline"


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
    finish_timeout: float = WandbConfig.finish_timeout,
    id: str | None = None,
) -> WandbLogger:
    """A ``WandbLogger`` for one job (one W&B run), files under ``save_dir/wandb``.

    ``id`` (the run's id, the same in every attempt of a run: :mod:`attnbench.runtime.attempts`) makes a
    resumed run continue its W&B run (``resume="allow"``). Offline, each attempt writes its own
    ``offline-run-<time>-<id>`` directory with that id; ``wandb sync`` uploads them, in start order, as
    that one run.

    Online init waits at most ``init_timeout`` seconds, then the run falls back to offline mode so
    a flaky network never stalls a sweep; at the end ``run.finish`` waits at most ``finish_timeout``
    seconds for uploads (the rest stays on disk for ``wandb sync``).
    """
    if process_rank() != 0:  # DDP workers: Lightning gives them a no-op experiment
        return WandbLogger(project=project, save_dir=save_dir, log_model=log_model)
    run = start_wandb_run(
        mode,
        init_timeout,
        finish_timeout,
        project=project,
        entity=entity,
        group=group,
        job_type=job_type,
        name=name,
        tags=list(tags or []),
        dir=save_dir,
        id=id or None,
    )
    # WandbLogger attaches to the active run created above (one run per job).
    return WandbLogger(project=project, save_dir=save_dir, log_model=log_model, experiment=run)


def start_wandb_run(mode: str, init_timeout: float, finish_timeout: float, **init: Any) -> Any:
    """``wandb.init(**init)`` in the mode :func:`resolve_wandb_mode` chooses, never stuck on the network:
    online it waits at most ``init_timeout`` seconds, then tears the failed attempt down (it holds the
    run id while its service lives) and starts the same run offline, saying so in one line. With an
    ``id`` the run resumes (``resume="allow"``). ``finish_timeout`` bounds the uploads at ``finish``."""
    import wandb  # here, not at the top: it takes seconds to import and most runs log elsewhere

    resolved = resolve_wandb_mode(mode)
    Path(init["dir"]).mkdir(parents=True, exist_ok=True)

    def start(run_mode: str, settings: wandb.Settings) -> Any:
        return wandb.init(
            **init,
            reinit="finish_previous",
            resume="allow" if init.get("id") else None,
            # a WANDB_MODE from the environment goes through as given: wandb validates it (its settings
            # accept more modes than init's annotation names)
            mode=cast(WandbMode, run_mode),
            settings=settings,
        )

    run = None
    if resolved == "online":
        started = time.perf_counter()
        try:
            run = start("online", wandb.Settings(init_timeout=init_timeout, finish_timeout=finish_timeout, silent=True))
        except Exception as err:  # network or auth trouble: keep the run, log offline
            resolved = "offline"
            wandb.teardown()  # the failed attempt keeps the run id claimed until its service is gone
            # a service inherited from a parent process (WANDB_SERVICE) outlives teardown and keeps holding the
            # run id: the offline run starts a service of its own
            os.environ.pop("WANDB_SERVICE", None)
            silence_wandb_analytics()
            log.warning(
                "W&B: no answer from %s within %.0f s (%s); logging offline instead (upload later with "
                "`wandb sync %s/wandb/offline-run-*`)",
                wandb_settings().base_url,
                time.perf_counter() - started,
                str(err).splitlines()[0][:200],
                init["dir"],
            )
    if run is None:
        run = _start_offline(start, resolved, wandb)
    log.info("W&B run %s (%s)", run.id, resolved)
    return run


def silence_wandb_analytics() -> None:
    """Stop wandb's own analytics (OpenTelemetry metrics it sends to the W&B server) in this process, after
    the server did not answer. Else its exit handler probes and flushes to that server, 10 s per request:
    a run against a server that never answers stayed alive ~23 s after its record was written (wandb 0.31).
    Private to wandb: without that module (another version) nothing is done."""
    try:
        from wandb.analytics.opentelemetry import opentelemetry_proxy as analytics
    except ImportError:
        return
    if hasattr(analytics, "disable"):
        analytics.disable()  # nothing new is recorded or exported
    # the proxies made so far (a process-wide one and one per wandb.init) flush at exit: mark the server as
    # one without the analytics endpoint, so they drop their records instead of probing it first
    proxy_class = getattr(analytics, "OpenTelemetryProxy", None)
    if proxy_class is None:
        return
    for obj in gc.get_objects():
        if isinstance(obj, proxy_class) and hasattr(obj, "_server_supports_proxy"):
            obj._server_supports_proxy = False


def _start_offline(start: Any, mode: str, wandb: Any, waits: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)) -> Any:
    """``start(mode)`` without the network. After a failed online attempt the run id can stay claimed for
    a moment on a busy machine (its service is still going away): wait and try again, ~15 s at most."""
    for wait in (*waits, None):
        try:
            return start(mode, wandb.Settings(silent=True))
        except Exception as err:
            if wait is None or "in use" not in str(err):
                raise
            log.info("W&B: the run id is still held by the online attempt (%s); again in %.1f s", err, wait)
            wandb.teardown()
            time.sleep(wait)
    raise AssertionError("unreachable: the last try returns or raises")


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
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog  # only for logger=tensorboard

        writer = self.experiment.file_writer
        writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
        writer.flush()
