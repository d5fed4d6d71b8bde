"""The server's own SQLite file: who owns which file, upload and job, and the events seen.

The provider keeps the training state; this file keeps what the OpenAI API adds on top:
public file ids (the provider may give the same id to the same bytes from two projects),
ownership, the fine-tuned model names, uploads in progress and a copy of each job's events
so that pages come out newest first without asking the provider for the whole history.
One connection per call (safe from any thread); WAL so readers never wait for the writer.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.sqlite import use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, provider_id TEXT NOT NULL,
    filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,
    purpose TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS files_project ON files(project, created_at);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL, mime_type TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, status TEXT NOT NULL, file_id TEXT);
CREATE TABLE IF NOT EXISTS parts (
    id TEXT PRIMARY KEY, upload_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL, model TEXT NOT NULL, training_file TEXT NOT NULL,
    validation_file TEXT, request TEXT NOT NULL, model_name TEXT NOT NULL,
    model_deleted INTEGER NOT NULL DEFAULT 0, last_event TEXT);
CREATE INDEX IF NOT EXISTS jobs_project ON jobs(project, seq);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_model ON jobs(model_name);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (job_id, seq));
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(job_id, id);
CREATE TABLE IF NOT EXISTS pending_jobs (
    token TEXT PRIMARY KEY, created_at REAL NOT NULL, row TEXT NOT NULL,
    provider_model TEXT NOT NULL, provider_file TEXT NOT NULL);
"""


@dataclass(frozen=True)
class FileRow:
    id: str
    project: str
    provider_id: str
    filename: str
    bytes: int
    created_at: int
    purpose: str
    sha256: str


@dataclass(frozen=True)
class UploadRow:
    id: str
    project: str
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    created_at: int
    expires_at: int
    status: str
    file_id: str | None


@dataclass(frozen=True)
class JobRow:
    id: str
    """The provider's job id, shown unchanged."""
    project: str
    seq: int
    created_at: int
    model: str
    """The model name the request gave (an alias, never a server path)."""
    training_file: str
    validation_file: str | None
    request: Mapping[str, Any]
    """What the create request asked for that the provider's Job may not echo back."""
    model_name: str
    """The ``ft:BASE:ORG:SUFFIX:ID`` name the fine-tuned model gets."""
    model_deleted: bool
    last_event: str | None


class State:
    """The server's SQLite file (``serve.sqlite`` in the data directory)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs = directory / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.path = directory / "serve.sqlite"
        self._local = threading.local()
        with self._connect() as conn:
            use_wal(conn, 30.0)
            conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, kept: opening one (and reading the schema) costs more
        # than the queries of a poll.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    def blob(self, name: str) -> Path:
        """Where the server keeps bytes; ``name`` is always an id the server made."""
        return self.blobs / name

    # -- files -----------------------------------------------------------------------------
    def add_file(self, row: FileRow) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?,?)",
                (
                    row.id,
                    row.project,
                    row.provider_id,
                    row.filename,
                    row.bytes,
                    row.created_at,
                    row.purpose,
                    row.sha256,
                ),
            )

    def get_file(self, project: str, file_id: str) -> FileRow | None:
        with self._connect() as conn:
            found = conn.execute(
                "SELECT * FROM files WHERE id=? AND project=?", (file_id, project)
            ).fetchone()
        return FileRow(**dict(found)) if found else None

    def list_files(
        self, project: str, *, purpose: str | None, after: str | None, limit: int, ascending: bool
    ) -> list[FileRow]:
        # rowid grows with every insert: upload order, even within one second.
        order = "ASC" if ascending else "DESC"
        query = "SELECT * FROM files WHERE project=?"
        params: list[Any] = [project]
        if purpose is not None:
            query += " AND purpose=?"
            params.append(purpose)
        if after is not None:
            query += f" AND rowid {'>' if ascending else '<'} "
            query += "(SELECT rowid FROM files WHERE id=? AND project=?)"
            params += [after, project]
        query += f" ORDER BY rowid {order} LIMIT ?"
        params.append(limit)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [FileRow(**dict(r)) for r in rows]

    def delete_file(self, project: str, file_id: str) -> bool:
        with self._connect() as conn:
            cursor = conn.execute("DELETE FROM files WHERE id=? AND project=?", (file_id, project))
        return cursor.rowcount > 0

    def files_with_provider_id(self, provider_id: str) -> list[FileRow]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM files WHERE provider_id=?", (provider_id,)
            ).fetchall()
        return [FileRow(**dict(r)) for r in rows]

    # -- uploads ---------------------------------------------------------------------------
    def add_upload(self, row: UploadRow) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO uploads VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    row.id,
                    row.project,
                    row.filename,
                    row.purpose,
                    row.bytes,
                    row.mime_type,
                    row.created_at,
                    row.expires_at,
                    row.status,
                    row.file_id,
                ),
            )

    def get_upload(self, project: str, upload_id: str) -> UploadRow | None:
        with self._connect() as conn:
            found = conn.execute(
                "SELECT * FROM uploads WHERE id=? AND project=?", (upload_id, project)
            ).fetchone()
        return UploadRow(**dict(found)) if found else None

    def finish_upload(self, upload_id: str, status: str, file_id: str | None) -> bool:
        """Move a pending upload to ``status``; False if it was no longer pending."""
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE uploads SET status=?, file_id=? WHERE id=? AND status='pending'",
                (status, file_id, upload_id),
            )
        return cursor.rowcount > 0

    def add_part(self, part_id: str, upload_id: str, created_at: int, size: int) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO parts VALUES (?,?,?,?)", (part_id, upload_id, created_at, size)
            )

    def parts(self, upload_id: str) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, bytes FROM parts WHERE upload_id=?", (upload_id,)
            ).fetchall()
        return {r["id"]: r["bytes"] for r in rows}

    def drop_parts(self, upload_id: str) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute("SELECT id FROM parts WHERE upload_id=?", (upload_id,)).fetchall()
            conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
        return [r["id"] for r in rows]

    # -- jobs ------------------------------------------------------------------------------
    def add_job(self, row: JobRow) -> None:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            conn.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    row.id,
                    row.project,
                    seq,
                    row.created_at,
                    row.model,
                    row.training_file,
                    row.validation_file,
                    json.dumps(dict(row.request)),
                    row.model_name,
                    0,
                    None,
                ),
            )
            conn.execute("COMMIT")

    def add_pending(self, token: str, row: JobRow, provider_model: str, provider_file: str) -> None:
        """Note a create before asking the provider, so a crash in between loses no job."""
        values = {k: v for k, v in row.__dict__.items() if k not in ("seq", "model_deleted")}
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO pending_jobs VALUES (?,?,?,?,?)",
                (token, time.time(), json.dumps(values), provider_model, provider_file),
            )

    def drop_pending(self, token: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM pending_jobs WHERE token=?", (token,))

    def pending(self) -> list[tuple[str, float, JobRow, str, str]]:
        """``(token, noted at, row with an empty id, provider model, provider file)``."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM pending_jobs ORDER BY created_at").fetchall()
        found = []
        for r in rows:
            values = json.loads(r["row"])
            found.append(
                (
                    r["token"],
                    r["created_at"],
                    JobRow(**values, seq=0, model_deleted=False),
                    r["provider_model"],
                    r["provider_file"],
                )
            )
        return found

    def job_known(self, job_id: str) -> bool:
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM jobs WHERE id=?", (job_id,)).fetchone() is not None

    def forget_job(self, job_id: str) -> None:
        """Drop a job and its events (a provider that restarted empty reuses its ids)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            conn.execute("DELETE FROM events WHERE job_id=?", (job_id,))
            conn.execute("COMMIT")

    def get_job(self, project: str, job_id: str) -> JobRow | None:
        with self._connect() as conn:
            found = conn.execute(
                "SELECT * FROM jobs WHERE id=? AND project=?", (job_id, project)
            ).fetchone()
        return _job(found) if found else None

    def job_by_model(self, project: str, model_name: str) -> JobRow | None:
        with self._connect() as conn:
            found = conn.execute(
                "SELECT * FROM jobs WHERE model_name=? AND project=?", (model_name, project)
            ).fetchone()
        return _job(found) if found else None

    def list_jobs(
        self, project: str, *, after: str | None = None, limit: int | None = None
    ) -> list[JobRow]:
        query = "SELECT * FROM jobs WHERE project=?"
        params: list[Any] = [project]
        if after is not None:
            cursor = self.get_job(project, after)
            if cursor is not None:
                query += " AND seq < ?"
                params.append(cursor.seq)
        query += " ORDER BY seq DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [_job(r) for r in rows]

    def delete_model(self, project: str, model_name: str) -> bool:
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET model_deleted=1 WHERE model_name=? AND project=? "
                "AND model_deleted=0",
                (model_name, project),
            )
        return cursor.rowcount > 0

    # -- events ----------------------------------------------------------------------------
    def last_event(self, job_id: str) -> tuple[int, str | None]:
        with self._connect() as conn:
            found = conn.execute(
                "SELECT seq, id FROM events WHERE job_id=? ORDER BY seq DESC LIMIT 1", (job_id,)
            ).fetchone()
        return (found["seq"], found["id"]) if found else (0, None)

    def add_events(self, job_id: str, start: int, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Append events after sequence number ``start`` (duplicates are ignored)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR IGNORE INTO events VALUES (?,?,?,?)",
                [
                    (job_id, start + i, event_id, json.dumps(body))
                    for i, (event_id, body) in enumerate(events, 1)
                ],
            )
            conn.execute("COMMIT")

    def events_page(
        self, job_id: str, *, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; ``after`` is an event id, the page holds older ones (as OpenAI)."""
        query = "SELECT body FROM events WHERE job_id=?"
        params: list[Any] = [job_id]
        with self._connect() as conn:
            if after is not None:
                found = conn.execute(
                    "SELECT seq FROM events WHERE job_id=? AND id=?", (job_id, after)
                ).fetchone()
                if found is None:
                    return [], False
                query += " AND seq < ?"
                params.append(found["seq"])
            query += " ORDER BY seq DESC LIMIT ?"
            params.append(limit + 1)
            rows = conn.execute(query, params).fetchall()
        bodies = [json.loads(r["body"]) for r in rows]
        return bodies[:limit], len(bodies) > limit


def _job(row: sqlite3.Row) -> JobRow:
    values = dict(row)
    values["request"] = json.loads(values["request"])
    values["model_deleted"] = bool(values["model_deleted"])
    return JobRow(**values)
