"""Values written into Hydra command-line overrides."""

from __future__ import annotations

from pathlib import Path


def quoted(text: str | Path) -> str:
    """``text`` quoted for Hydra's override grammar, so a path may hold ``=``, ``,``, spaces, quotes or
    ``${`` (which would otherwise be an interpolation)."""
    return "'" + str(text).replace("'", "\\'").replace("${", "\\${") + "'"
