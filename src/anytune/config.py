"""Where anytune keeps its own state (the job index, the local provider's store)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$ANYTUNE_HOME``, or the per-user data directory (e.g. ``~/.local/share/anytune``)."""
    configured = os.environ.get("ANYTUNE_HOME")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path("anytune", appauthor=False)


def default_provider() -> str | None:
    """``$ANYTUNE_PROVIDER`` if set."""
    return os.environ.get("ANYTUNE_PROVIDER") or None
