"""Where anytune keeps its own state (the job index, the local provider's store), private to
the user: directories anytune creates there are 0700, files 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from anytune.errors import StorageError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


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


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as a directory only the user can enter.

    Raises ``StorageError`` naming the path when it is a file or cannot be created.
    """
    if path.is_dir():
        return path
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise StorageError(
            f"{blocker}: is a file, but anytune needs a directory there for its state",
            path=str(blocker),
            hint="move the file away, or set ANYTUNE_HOME to a directory",
        )
    try:
        # Parents get the default mode (they may be shared, e.g. ~/.local/share); the
        # directory anytune owns is private whatever the umask.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(path, PRIVATE_DIR)
    except OSError as exc:
        raise StorageError(
            f"{path}: cannot create anytune's state directory ({exc.strerror or exc})",
            path=str(path),
            hint="make its parent writable, or set ANYTUNE_HOME to a writable directory",
        ) from None
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, readable and writable by the user only; tighten an
    existing file that others can read (state written by older versions)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
        os.close(fd)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & ~0o077)
    except OSError:
        pass  # opening it for real reports the problem, with the file named
    return path
