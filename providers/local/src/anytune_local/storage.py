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
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from anytune import config
from anytune.errors import InvalidRequestError, StorageError, TransientError
from anytune.sqlite import is_locked, statements, use_wal
from anytune_local.records import MIGRATIONS, SCHEMA, SCHEMA_VERSION

if TYPE_CHECKING:
    from anytune_local.store import Store

T = TypeVar("T")

PROVIDER = "local"
SQLITE_HEADER = b"SQLite format 3\x00"

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""Job and file ids: letters, digits, ``-`` and ``_``; no dots, no separators."""
CHECKPOINT_NAME = re.compile(r"checkpoint-[0-9]{1,12}")

_FULL = (errno.ENOSPC, errno.EDQUOT)
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
    if is_locked(exc):
        return StoreBusyError(
            f"{path}: the local store is locked by another process",
            hint="another anytune command or worker is writing to it; try again in a moment "
            f"(if it persists, see which process holds it with `fuser {path}`)",
            provider=PROVIDER,
        )
    if code == errno.EFBIG:
        return StorageError(
            f"{path}: a file grew past the largest size this process may write",
            path=str(path),
            hint="raise the file-size limit (`ulimit -f`), or free space if the disk is "
            "also nearly full; nothing stored was lost",
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


LOCK_TIMEOUT_ENV = "ANYTUNE_LOCAL_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0
"""Seconds a write waits for another process's write lock (``$ANYTUNE_LOCAL_LOCK_TIMEOUT``)."""


def lock_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT)))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


def retry_busy(action: Callable[[], T], *, patience: float, what: str = "write") -> T:
    """Run ``action``, retrying with backoff while the store is locked (up to ``patience``
    seconds). For writes that must happen (a job's final status): a lock held by a stuck
    process delays them, never loses them."""
    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            return action()
        except StoreBusyError as exc:
            if time.monotonic() + delay > deadline:
                raise
            print(f"anytune: store locked, retrying the {what} in {delay:g} s: {exc.message}")
            time.sleep(delay)
            delay = min(30.0, delay * 2)


def open_store(store: Store) -> None:
    """Create the store's directories and database, or check and upgrade existing ones.

    Refuses (``StorageError``) a home that is a file, a database that is not SQLite, and a
    blank or missing database while ``jobs/`` and ``files/`` hold data.
    """
    if store.home.exists() and not store.home.is_dir():
        raise storage_error(NotADirectoryError(errno.ENOTDIR, "not a directory"), store.home)
    state = sqlite_state(store.db_path)
    holds_data = has_entries(store.jobs_dir) or has_entries(store.files_dir)
    if state == "other" or (state in ("empty", "missing") and holds_data):
        # Starting a new database over a blank or missing one while jobs and files exist
        # would silently orphan every job and adapter.
        what = {
            "empty": "it is empty (0 bytes) while jobs/ and files/ next to it hold data",
            "other": "it is not a SQLite database",
            "missing": "it is missing while jobs/ and files/ next to it hold data",
        }[state]
        raise corrupt_store(store.db_path, what)
    for directory in (store.home, store.files_dir, store.jobs_dir, store.slots_dir):
        make_private_dir(directory)
    if state == "missing":
        touch_private(store.db_path)
    conn = sqlite3.connect(store.db_path, timeout=store.timeout, isolation_level=None)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{store.db_path} was written by a newer anytune-local (schema {version}, "
                f"this one knows {SCHEMA_VERSION})",
                path=str(store.db_path),
                hint="upgrade anytune-local (pip install -U anytune-local)",
                provider="local",
            )
        if version != SCHEMA_VERSION:
            use_wal(conn, store.timeout)
            # Create or upgrade under the write lock, reading the version again there: two
            # processes opening a new or older store at once must not both run migrations.
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version != SCHEMA_VERSION:
                    for statement in (*statements(SCHEMA), *MIGRATIONS.get(version, ())):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    finally:
        conn.close()
    sidecars = (store.db_path.with_name(store.db_path.name + x) for x in ("-wal", "-shm"))
    for path in (store.db_path, *sidecars):
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
