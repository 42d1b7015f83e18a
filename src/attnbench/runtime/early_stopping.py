"""Lightning's ``EarlyStopping`` with its ``state_key`` computed once (``callbacks.early_stopping``).

Lightning names every callback in every hook call by its ``state_key`` (the profiler's action name), a
dozen hook calls a training step; ``EarlyStopping`` builds it from a dict and its repr each time. The key,
and so the checkpoint's callback state, is the same string as Lightning's.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import EarlyStopping as LightningEarlyStopping


class EarlyStopping(LightningEarlyStopping):
    """``pytorch_lightning.callbacks.EarlyStopping`` (same arguments, same behaviour)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_key = super().state_key

    @property
    def state_key(self) -> str:
        return self._state_key
