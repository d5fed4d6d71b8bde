"""The local provider's state: one SQLite file shared by the CLI, the provider and the workers.

Every operation opens its own short-lived connection, so a ``Store`` is safe to use from
several threads and processes at once. The database runs in WAL mode (readers never wait
for the writer) with a busy timeout, and every write is one short ``BEGIN IMMEDIATE``
transaction. Status changes are conditional updates (``transition``) so that two processes
racing to finish the same job (a worker and a ``cancel``) cannot both win.

Layout under the store's home directory::

    store.sqlite3           jobs, files, events, checkpoints
    files/<sha256>          uploaded files, content-addressed
    jobs/<job id>/          worker.log, request.json, result.json, checkpoints/, adapter/
    slots/slot-<n>.lock     held (flock) by the worker that is training

No heavy imports here: ``anytune status`` must stay fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anytune.types import Checkpoint, Event, Metrics
from anytune_local.records import (
    ACTIVE_STATUSES,
    CHECKPOINT_PREFIX,
    EVENT_PREFIX,
    FileRecord,
    JobRecord,
)
from anytune_local.storage import (
    LOCK_TIMEOUT_ENV,
    StoreBusyError,
    check_id,
    lock_timeout,
    open_store,
    retry_busy,
    storage_error,
)

_JOB_COLUMNS = tuple(f.name for f in dataclasses.fields(JobRecord))


def event_number(event_id: str) -> int:
    """``"ftevent-12"`` -> 12. Raises ``ValueError`` for anything else."""
    if not event_id.startswith(EVENT_PREFIX):
        raise ValueError(event_id)
    return int(event_id[len(EVENT_PREFIX) :])


class Store:
    """The SQLite file and the directories next to it. Cheap to construct.

    Every failure of the file system or of SQLite leaves as a ``StorageError`` (or
    ``StoreBusyError`` for a lock held too long) naming the file and what to do.
    """

    def __init__(self, home: Path, *, timeout: float | None = None) -> None:
        self.home = home
        self.db_path = home / "store.sqlite3"
        self.files_dir = home / "files"
        self.jobs_dir = home / "jobs"
        self.slots_dir = home / "slots"
        self.timeout = lock_timeout() if timeout is None else timeout
        self._ready = False

    # -- connections ---------------------------------------------------------------------
    def _init(self) -> None:
        try:
            open_store(self)
        except (OSError, sqlite3.Error) as exc:
            raise storage_error(exc, self.db_path, home=self.home) from exc
        self._ready = True

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self._init()
        try:
            conn = sqlite3.connect(self.db_path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.db_path, home=self.home) from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        except (OSError, sqlite3.Error) as exc:
            raise storage_error(exc, self.db_path, home=self.home) from exc
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock up front."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # SQLite may already have rolled back (disk full): keep the first error.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def job_dir(self, job_id: str) -> Path:
        """``jobs/<job_id>``; an id that could leave the store is refused."""
        return self.jobs_dir / check_id("job", job_id)

    # -- files ---------------------------------------------------------------------------
    def add_file(self, record: FileRecord) -> FileRecord:
        """Insert a file; if the same content was stored before, return the first record."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM files WHERE id = ?", (record.id,)).fetchone()
            if row is not None:
                return FileRecord(**dict(row))
            conn.execute(
                "INSERT INTO files (id, filename, bytes, created_at, purpose, sha256, path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(record),
            )
        return record

    def get_file(self, file_id: str) -> FileRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        return FileRecord(**dict(row)) if row is not None else None

    def list_files(self, *, limit: int | None = None) -> list[FileRecord]:
        """Oldest first."""
        query = "SELECT * FROM files ORDER BY created_at, rowid"
        params: tuple[Any, ...] = ()
        if limit is not None:
            query += " LIMIT ?"
            params = (limit,)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [FileRecord(**dict(row)) for row in rows]

    def delete_file(self, file_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    # -- jobs ----------------------------------------------------------------------------
    def insert_job(self, job_id: str, *, model: str, spec: str, status: str) -> JobRecord:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO jobs (id, status, created_at, model, spec) VALUES (?, ?, ?, ?, ?)",
                (job_id, status, now, model, spec),
            )
        record = self.get_job(job_id)
        assert record is not None
        return record

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list_jobs(self, *, limit: int | None = None) -> list[JobRecord]:
        """Most recent first."""
        query = "SELECT * FROM jobs ORDER BY seq DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            query += " LIMIT ?"
            params = (limit,)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [_job(row) for row in rows]

    def jobs_with_status(self, statuses: Sequence[str]) -> list[JobRecord]:
        """Jobs in any of ``statuses``, oldest (first submitted) first."""
        marks = ", ".join("?" for _ in statuses)
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY seq", tuple(statuses)
            ).fetchall()
        return [_job(row) for row in rows]

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set columns unconditionally (progress fields, worker bookkeeping)."""
        if not fields:
            return
        _check_columns(fields)
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self._write() as conn:
            conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*fields.values(), job_id))

    def transition(
        self,
        job_id: str,
        from_statuses: Sequence[str],
        to_status: str,
        *,
        if_attempt: int | None = None,
        event: str | None = None,
        level: str = "info",
        **fields: Any,
    ) -> bool:
        """Move a job to ``to_status`` only if it is now in ``from_statuses`` (and, with
        ``if_attempt``, still on that attempt: a worker of an earlier attempt, or a stale
        reading, must not touch a resumed job).

        Returns whether this call made the change. ``fields`` are set and ``event`` is added
        in the same transaction, so whoever sees the new status also sees its event.
        """
        _check_columns(fields)
        values = {"status": to_status, **fields}
        sets = ", ".join(f"{name} = ?" for name in values)
        marks = ", ".join("?" for _ in from_statuses)
        where = f"id = ? AND status IN ({marks})"
        params: tuple[Any, ...] = (*values.values(), job_id, *from_statuses)
        if if_attempt is not None:
            where += " AND attempt = ?"
            params = (*params, if_attempt)
        with self._write() as conn:
            cursor = conn.execute(f"UPDATE jobs SET {sets} WHERE {where}", params)
            changed = cursor.rowcount == 1
            if changed and event is not None:
                conn.execute(
                    "INSERT INTO events (job_id, created_at, level, message) VALUES (?, ?, ?, ?)",
                    (job_id, time.time(), level, event),
                )
            return changed

    def claim_worker(
        self, job_id: str, attempt: int, *, pid: int, started: float | None, host: str
    ) -> bool:
        """Record ``pid`` as the worker of ``attempt``; False if the job moved on since."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET worker_pid = ?, worker_started = ?, worker_host = ?, "
                "heartbeat = ? WHERE id = ? AND attempt = ?",
                (pid, started, host, time.time(), job_id, attempt),
            )
            return cursor.rowcount == 1

    def requested_action(self, job_id: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT requested_action FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else row[0]

    # -- events --------------------------------------------------------------------------
    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        metrics: Metrics | Mapping[str, Any] | None = None,
    ) -> str:
        if isinstance(metrics, Metrics):
            metrics = metrics.to_dict()
        payload = json.dumps(dict(metrics)) if metrics else None
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO events (job_id, created_at, level, message, metrics) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, time.time(), level, message, payload),
            )
            return f"{EVENT_PREFIX}{cursor.lastrowid}"

    def has_event(self, job_id: str, number: int) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM events WHERE id = ? AND job_id = ?", (number, job_id)
            ).fetchone()
        return row is not None

    def list_events(self, job_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        """Events with a number greater than ``after``, oldest first."""
        query = "SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id"
        params: tuple[Any, ...] = (job_id, after)
        if limit is not None:
            query += " LIMIT ?"
            params = (*params, limit)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [
            Event(
                id=f"{EVENT_PREFIX}{row['id']}",
                created_at=int(row["created_at"]),
                level=row["level"],
                message=row["message"],
                metrics=Metrics.from_dict(json.loads(row["metrics"])) if row["metrics"] else None,
            )
            for row in rows
        ]

    # -- checkpoints ---------------------------------------------------------------------
    def add_checkpoint(
        self, job_id: str, step: int, path: str, metrics: Mapping[str, float]
    ) -> Checkpoint:
        now = time.time()
        with self._write() as conn:
            # A step saved again (a resumed run re-saving the step it was damaged at) replaces
            # the earlier record instead of listing the checkpoint twice.
            conn.execute("DELETE FROM checkpoints WHERE job_id = ? AND step = ?", (job_id, step))
            cursor = conn.execute(
                "INSERT INTO checkpoints (job_id, step, created_at, path, metrics) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, step, now, path, json.dumps(dict(metrics))),
            )
            number = cursor.lastrowid
        return Checkpoint(
            id=f"{CHECKPOINT_PREFIX}{number}",
            job_id=job_id,
            step=step,
            created_at=int(now),
            fine_tuned_model_checkpoint=path,
            metrics=dict(metrics),
        )

    def forget_missing_checkpoints(self, job_id: str) -> int:
        """Drop the records of checkpoints whose directories are gone (``save_total_limit``
        rotated them away); returns how many."""
        gone = [
            int(c.id[len(CHECKPOINT_PREFIX) :])
            for c in self.list_checkpoints(job_id)
            if not Path(c.fine_tuned_model_checkpoint).exists()
        ]
        if gone:
            marks = ", ".join("?" for _ in gone)
            with self._write() as conn:
                conn.execute(f"DELETE FROM checkpoints WHERE id IN ({marks})", tuple(gone))
        return len(gone)

    def delete_checkpoints(self, job_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM checkpoints WHERE job_id = ?", (job_id,))

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Oldest (lowest step) first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step, id", (job_id,)
            ).fetchall()
        return [
            Checkpoint(
                id=f"{CHECKPOINT_PREFIX}{row['id']}",
                job_id=job_id,
                step=row["step"],
                created_at=int(row["created_at"]),
                fine_tuned_model_checkpoint=row["path"],
                metrics=json.loads(row["metrics"]) if row["metrics"] else {},
            )
            for row in rows
        ]


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(**{name: row[name] for name in _JOB_COLUMNS})


def _check_columns(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - set(_JOB_COLUMNS)
    if unknown:
        raise ValueError(f"unknown job column(s): {', '.join(sorted(unknown))}")


__all__ = [
    "ACTIVE_STATUSES",
    "LOCK_TIMEOUT_ENV",
    "FileRecord",
    "JobRecord",
    "Store",
    "StoreBusyError",
    "event_number",
    "retry_busy",
]
