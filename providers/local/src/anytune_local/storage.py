"""The store's boundary with the file system: private files and directories, safe ids, and
storage failures turned into errors that say which file, what is wrong and what to do.

Everything the local provider creates under its home is private to the user: directories
0700, files 0600 (SQLite gives its ``-wal``/``-shm`` files the database's mode). Ids that
become path components (job ids, file ids, checkpoint names) must match ``SAFE_ID`` so that
no id can name a path outside the store.

No heavy imports here: ``anytune status`` must stay fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
from pathlib import Path

from anytune import config
from anytune.errors import InvalidRequestError, StorageError, TransientError

PROVIDER = "local"
SQLITE_HEADER = b"SQLite format 3\x00"

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""Job and file ids: letters, digits, ``-`` and ``_``; no dots, no separators."""
CHECKPOINT_NAME = re.compile(r"checkpoint-[0-9]{1,12}")

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_NOT_A_DIRECTORY = (errno.ENOTDIR, errno.EEXIST)


class StoreBusyError(TransientError):
    """Another process held the store's write lock for longer than the lock timeout."""


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a safe id, else an ``InvalidRequestError`` naming the rule."""
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value):
        raise InvalidRequestError(
            f"{value!r} is not a valid local {kind} id",
            hint=f"{kind} ids are letters, digits, '-' and '_' (e.g. "
            f"{'ftjob-0123abcd' if kind == 'job' else 'file-0123abcd'}); list them with "
            f"`anytune list --provider local`",
            provider=PROVIDER,
        )
    return value


def make_private_dir(path: Path) -> Path:
    """``config.private_dir`` (the one rule for anytune's directories: created 0700), and
    also tighten a directory an older version created with a wider mode."""
    config.private_dir(path)
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    return path


def touch_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 before SQLite opens it (its ``-wal`` and ``-shm``
    files copy the mode), or tighten it: ``config.private_file``."""
    config.private_file(path)


def sqlite_state(path: Path) -> str:
    """``"missing"``, ``"empty"``, ``"sqlite"`` or ``"other"`` (not a SQLite database)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return "missing"
    if not head:
        wal = path.with_name(path.name + "-wal")
        return "sqlite" if wal.is_file() and wal.stat().st_size > 0 else "empty"
    return "sqlite" if head == SQLITE_HEADER else "other"


def storage_error(exc: BaseException, path: Path, *, home: Path | None = None) -> Exception:
    """The anytune error for an ``OSError`` or ``sqlite3.Error`` met while using ``path``."""
    where = home or path.parent
    if isinstance(exc, StorageError | StoreBusyError):
        return exc
    text = str(exc).lower()
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreBusyError(
            f"{path}: the local store is locked by another process",
            hint="another anytune command or worker is writing to it; try again in a moment "
            f"(if it persists, see which process holds it with `fuser {path}`)",
            provider=PROVIDER,
        )
    if code in _FULL or "disk is full" in text or ("i/o error" in text and _nearly_full(where)):
        return StorageError(
            f"{path}: no space left on the device",
            path=str(path),
            hint=f"free space on the disk that holds {where} (`anytune local gc` removes what "
            "no job needs), or point ANYTUNE_HOME at a disk with room; nothing stored was lost",
            provider=PROVIDER,
        )
    if code in _NOT_A_DIRECTORY or isinstance(exc, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        return StorageError(
            f"{blocker} is a file, but the local store needs a directory there",
            path=str(blocker),
            hint="move that file away, or set ANYTUNE_HOME (or --home) to another directory",
            provider=PROVIDER,
        )
    if code in _READ_ONLY or "readonly" in text or "read-only" in text or _read_only(where):
        return StorageError(
            f"{path}: cannot write (a read-only file system, or no permission)",
            path=str(path),
            hint=f"make {where} writable by you, or set ANYTUNE_HOME (or --home) to a "
            "writable directory",
            provider=PROVIDER,
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return corrupt_store(path, str(exc))
    if isinstance(exc, sqlite3.Error) and "unable to open" in text:
        return StorageError(
            f"{path}: cannot open the local store",
            path=str(path),
            hint=f"check that {where} exists, is a directory and is writable by you",
            provider=PROVIDER,
        )
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StorageError(
        f"{path}: {detail}",
        path=str(path),
        hint=f"check the disk that holds {where} (space, permissions, health), then try again",
        provider=PROVIDER,
    )


def corrupt_store(path: Path, what: str) -> StorageError:
    return StorageError(
        f"{path} is damaged ({what}); the local store refuses to start over on top of it, "
        "which would orphan its jobs and adapters",
        path=str(path),
        hint=f"restore it from a backup, or move it aside (mv {path} {path}.broken) to start "
        "an empty store; uploaded files and adapters stay in the files/ and jobs/ "
        "directories next to it",
        provider=PROVIDER,
    )


def _nearly_full(directory: Path) -> bool:
    """SQLite reports a full disk met while growing its -wal/-shm files as a plain "disk I/O
    error": tell the two apart by the free space left."""
    for candidate in (directory, *directory.parents):
        with contextlib.suppress(OSError):
            if candidate.exists():
                fs = os.statvfs(candidate)
                return fs.f_bavail * fs.f_frsize < 1 << 20
    return False


def _read_only(directory: Path) -> bool:
    """SQLite says "unable to open database file" when it cannot create its -shm file on a
    read-only file system (or in a directory this user cannot write)."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            with contextlib.suppress(OSError):
                if os.statvfs(candidate).f_flag & os.ST_RDONLY:
                    return True
            return not os.access(candidate, os.W_OK)
    return False


def has_entries(directory: Path) -> bool:
    try:
        return any(directory.iterdir())
    except OSError:
        return False
