"""A small local record of the jobs created through anytune: job id → provider.

It lets ``anytune status JOB`` and ``anytune wait JOB`` find the right provider without
``--provider``. One SQLite file, ``$ANYTUNE_HOME/index.sqlite3``, private to the user (0600 in
a 0700 directory). Secrets are never stored: only the provider's declared
``connection_options`` (e.g. a base URL), with any ``user:password@`` and secret-looking
query parameters removed from URLs.

The index is a cache. Writing it (``record``, ``update_status``) never fails the operation
that was done: a storage problem becomes an ``IndexWarning`` that names the file and says what
to do. Reading it (``lookup``, ``list``, ``find``) raises ``StorageError`` with the same
message, since the caller asked for what the index holds.
"""

from __future__ import annotations

import errno
import hashlib
import json
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from anytune import config
from anytune.errors import NotFoundError, StorageError
from anytune.sqlite import is_locked, use_wal

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    connection TEXT NOT NULL DEFAULT '{}',
    model TEXT,
    training_file TEXT,
    created_at INTEGER NOT NULL,
    last_status TEXT,
    spec TEXT,
    parent TEXT,
    PRIMARY KEY (provider, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_id ON jobs (job_id);
CREATE TABLE IF NOT EXISTS files (
    provider TEXT NOT NULL,
    file_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT,
    PRIMARY KEY (provider, file_id)
);
"""
_TIMEOUT = 30.0
"""Seconds a connection waits for another process's lock."""
_ADDED_COLUMNS = {"spec": "TEXT", "parent": "TEXT"}
"""Columns added after the first release (an older index gets them on first use)."""
_COLUMNS = (
    "job_id, provider, connection, model, training_file, created_at, last_status, spec, parent"
)

_SECRET_QUERY = re.compile(r"(?i)(key|token|secret|password|passwd|signature|sig|auth)")


class IndexWarning(UserWarning):
    """The job index could not be written; the operation itself succeeded."""


@dataclass(frozen=True)
class IndexedJob:
    job_id: str
    provider: str
    connection: Mapping[str, Any]
    model: str | None
    training_file: str | None
    created_at: int
    last_status: str | None
    spec: Mapping[str, Any] | None = None
    """The job's spec as created (``JobSpec.to_dict()``), for ``anytune rerun``."""
    parent: str | None = None
    """The job this one re-runs (``anytune rerun``)."""


def public_url(value: str) -> str:
    """``value`` without ``user:password@`` and without secret-looking query parameters,
    when it is a URL; any other string unchanged."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return value
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _SECRET_QUERY.search(k)
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def public_connection(connection: Mapping[str, Any]) -> dict[str, Any]:
    """Connection settings safe to store: JSON values, URLs stripped of credentials."""
    safe: dict[str, Any] = {}
    for key, value in connection.items():
        if value is None:
            continue
        if not isinstance(value, (str, int, float, bool)):
            value = str(value)  # e.g. a Path for `home`
        safe[key] = public_url(value) if isinstance(value, str) else value
    return safe


def storage_error(path: Path, exc: BaseException, *, what: str = "job index") -> StorageError:
    """A clear message for a storage failure of ``path``: which file, what, what to do."""
    text = str(exc).lower()
    err = getattr(exc, "errno", None)
    aside = f"mv {path} {path}.broken"
    if isinstance(exc, StorageError):
        return exc
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StorageError(
            f"{path}: anytune's {what} is corrupt ({exc})",
            path=str(path),
            hint=f"move it aside (`{aside}`) and anytune starts a new one; jobs recorded "
            "in it are still reachable with --provider NAME",
        )
    if "full" in text or err == errno.ENOSPC:
        return StorageError(
            f"{path}: cannot write anytune's {what}: the disk is full",
            path=str(path),
            hint="free some disk space, or set ANYTUNE_HOME to a directory on another disk",
        )
    if is_locked(exc):
        return StorageError(
            f"{path}: anytune's {what} stayed locked by another process ({exc})",
            path=str(path),
            hint="try again when the other anytune command has finished",
        )
    if (
        "readonly" in text
        or "read-only" in text
        or "unable to open" in text
        or err in (errno.EACCES, errno.EPERM, errno.EROFS)
    ):
        return StorageError(
            f"{path}: cannot write anytune's {what} (read-only or permission denied)",
            path=str(path),
            hint=f"make {path.parent} writable by you, or set ANYTUNE_HOME to a writable directory",
        )
    return StorageError(
        f"{path}: cannot use anytune's {what} ({type(exc).__name__}: {exc})",
        path=str(path),
        hint=f"check the file and its directory; moving it aside (`{aside}`) starts a new one",
    )


class JobIndex:
    """The job index. Safe to use from several processes at once."""

    def __init__(self, path: Path | None = None):
        self.path = path or config.home() / "index.sqlite3"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # SQLite creates the -wal and -shm files with the database file's permissions, so a
        # private database file keeps the whole index private.
        config.private_file(self.path)
        conn = sqlite3.connect(self.path, timeout=_TIMEOUT)
        try:
            use_wal(conn, _TIMEOUT)
            conn.executescript(_SCHEMA)
            if not _ADDED_COLUMNS.keys() <= self._columns(conn):
                # An older index: add its missing columns once, even when several processes
                # open it at the same moment (the check is repeated under the write lock).
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    have = self._columns(conn)
                    for column, kind in _ADDED_COLUMNS.items():
                        if column not in have:
                            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
            with conn:
                yield conn
        finally:
            conn.close()

    @staticmethod
    def _columns(conn: sqlite3.Connection) -> set[str]:
        return {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}

    def _run(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """``action`` on a connection; storage failures become ``StorageError``."""
        try:
            with self._connect() as conn:
                return action(conn)
        except (sqlite3.Error, OSError, StorageError) as exc:
            raise storage_error(self.path, exc) from None

    def _write(self, action: Callable[[sqlite3.Connection], object]) -> bool:
        """A cache write: on failure warn (naming the file and the fix) and return False."""
        try:
            self._run(action)
        except StorageError as exc:
            warnings.warn(
                IndexWarning(f"{exc.message}; {exc.hint}" if exc.hint else exc.message),
                stacklevel=3,
            )
            return False
        return True

    def record(
        self,
        job_id: str,
        provider: str,
        *,
        connection: Mapping[str, Any] | None = None,
        model: str | None = None,
        training_file: str | None = None,
        status: str | None = None,
        spec: Mapping[str, Any] | None = None,
        parent: str | None = None,
    ) -> bool:
        """Remember a job. Returns False (after an ``IndexWarning``) when it could not."""
        row = (
            job_id,
            provider,
            json.dumps(public_connection(connection or {})),
            model,
            training_file,
            int(time.time()),
            status,
            json.dumps(dict(spec), default=str) if spec is not None else None,
            parent,
        )
        return self._write(
            lambda conn: conn.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (provider, job_id) DO UPDATE SET last_status = excluded.last_status",
                row,
            )
        )

    def record_file(self, provider: str, file_id: str, path: Path, sha256: str | None) -> bool:
        """Remember where an uploaded file came from (``anytune rerun`` uploads it again)."""
        row = (provider, file_id, str(Path(path).resolve()), sha256)
        return self._write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO files (provider, file_id, path, sha256) VALUES (?, ?, ?, ?)",
                row,
            )
        )

    def file_source(self, provider: str, file_id: str) -> tuple[Path, str | None] | None:
        """The local path (and sha256) an uploaded file was read from, if recorded."""
        if not self.path.exists():
            return None
        found = self._run(
            lambda conn: conn.execute(
                "SELECT path, sha256 FROM files WHERE provider = ? AND file_id = ?",
                (provider, file_id),
            ).fetchone()
        )
        return (Path(found[0]), found[1]) if found else None

    def unchanged_source(self, provider: str, file_id: str) -> Path | None:
        """The recorded source of an uploaded file, if it still holds the uploaded bytes."""
        recorded = self.file_source(provider, file_id)
        if recorded is None or not recorded[0].is_file():
            return None
        path, sha256 = recorded
        return path if sha256 is None or file_sha256(path) == sha256 else None

    def update_status(self, job_id: str, provider: str, status: str) -> bool:
        """Refresh a recorded job's last status (nothing when the job is not recorded)."""
        if not self.path.exists():
            return True
        return self._write(
            lambda conn: conn.execute(
                "UPDATE jobs SET last_status = ? WHERE job_id = ? AND provider = ?",
                (status, job_id, provider),
            )
        )

    def lookup(self, job_id: str) -> list[IndexedJob]:
        """Every recorded job with this id (normally one; ids may repeat across providers)."""
        if not self.path.exists():
            return []
        rows = self._run(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ? ORDER BY created_at DESC",
                (job_id,),
            ).fetchall()
        )
        return [_row(r) for r in rows]

    def find(self, job_id: str) -> IndexedJob:
        """The most recent record of ``job_id``; ``NotFoundError`` saying what to do if none."""
        found = self.lookup(job_id)
        if not found:
            raise NotFoundError(
                f"job {job_id} is not in anytune's local index ({self.path})",
                hint="pass --provider NAME (or Client(NAME)) for jobs created elsewhere",
            )
        return found[0]

    def list(self, *, provider: str | None = None, limit: int = 20) -> list[IndexedJob]:
        """Most recently created first."""
        if not self.path.exists():
            return []
        query = f"SELECT {_COLUMNS} FROM jobs"
        params: tuple[Any, ...] = ()
        if provider:
            query += " WHERE provider = ?"
            params = (provider,)
        query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        rows = self._run(lambda conn: conn.execute(query, (*params, limit)).fetchall())
        return [_row(r) for r in rows]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _row(row: tuple[Any, ...]) -> IndexedJob:
    try:
        connection = json.loads(row[2] or "{}")
    except json.JSONDecodeError:
        connection = {}  # a damaged row still names its provider
    return IndexedJob(
        job_id=row[0],
        provider=row[1],
        connection=connection if isinstance(connection, dict) else {},
        model=row[3],
        training_file=row[4],
        created_at=row[5],
        last_status=row[6],
        spec=_json_object(row[7]),
        parent=row[8],
    )


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None  # a damaged spec: the job is still listed, rerun says it has none
    return value if isinstance(value, dict) else None


__all__ = ["IndexWarning", "IndexedJob", "JobIndex", "public_connection", "public_url"]
