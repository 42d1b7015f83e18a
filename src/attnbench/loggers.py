"""Logger factories. W&B goes online only with credentials and never blocks on the network."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from attnbench.config.runtime import WandbConfig

log = logging.getLogger(__name__)


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
) -> WandbLogger:
    """A ``WandbLogger`` for one job (one W&B run), files under ``save_dir/wandb``.

    Online init waits at most ``init_timeout`` seconds, then the run falls back to offline mode so
    a flaky network never stalls a sweep.
    """
    import wandb  # here, not at the top: it takes seconds to import and most runs log elsewhere

    if rank_zero_only.rank != 0:  # DDP workers: Lightning gives them a no-op experiment
        return WandbLogger(project=project, save_dir=save_dir, log_model=log_model)
    resolved = resolve_wandb_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    init = {
        "project": project,
        "entity": entity,
        "group": group,
        "job_type": job_type,
        "name": name,
        "tags": list(tags or []),
        "dir": save_dir,
        "reinit": "finish_previous",
    }
    if resolved == "online":
        try:
            wandb.init(**init, mode="online", settings=wandb.Settings(init_timeout=init_timeout, silent=True))
        except Exception as err:  # network or auth trouble: keep the run, log offline
            log.warning("W&B online init failed (%s); logging offline instead", err)
            resolved = "offline"
    if resolved != "online":
        wandb.init(**init, mode=resolved, settings=wandb.Settings(silent=True))
    # WandbLogger attaches to the active run created above (one run per job).
    return WandbLogger(project=project, save_dir=save_dir, log_model=log_model, experiment=wandb.run)
