"""A small local record of the jobs created through anytune: job id → provider.

It lets ``anytune status JOB`` and ``anytune wait JOB`` find the right provider without
``--provider``. One SQLite file, ``$ANYTUNE_HOME/index.sqlite3``. Secrets are never stored:
only the provider's declared ``connection_options`` (e.g. a base URL).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune import config

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    connection TEXT NOT NULL DEFAULT '{}',
    model TEXT,
    training_file TEXT,
    created_at INTEGER NOT NULL,
    last_status TEXT,
    PRIMARY KEY (provider, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_id ON jobs (job_id);
"""


@dataclass(frozen=True)
class IndexedJob:
    job_id: str
    provider: str
    connection: Mapping[str, Any]
    model: str | None
    training_file: str | None
    created_at: int
    last_status: str | None


class JobIndex:
    """The job index. Safe to use from several processes at once."""

    def __init__(self, path: Path | None = None):
        self.path = path or config.home() / "index.sqlite3"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            with conn:
                yield conn
        finally:
            conn.close()

    def record(
        self,
        job_id: str,
        provider: str,
        *,
        connection: Mapping[str, Any] | None = None,
        model: str | None = None,
        training_file: str | None = None,
        status: str | None = None,
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, provider, connection, model, training_file,"
                " created_at, last_status) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (provider, job_id) DO UPDATE SET last_status = excluded.last_status",
                (
                    job_id,
                    provider,
                    json.dumps(dict(connection or {})),
                    model,
                    training_file,
                    int(time.time()),
                    status,
                ),
            )

    def update_status(self, job_id: str, provider: str, status: str) -> None:
        if not self.path.exists():
            return
        with self._connect() as conn:
            conn.execute(
                "UPDATE jobs SET last_status = ? WHERE job_id = ? AND provider = ?",
                (status, job_id, provider),
            )

    def lookup(self, job_id: str) -> list[IndexedJob]:
        """Every recorded job with this id (normally one; ids may repeat across providers)."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT job_id, provider, connection, model, training_file, created_at,"
                " last_status FROM jobs WHERE job_id = ? ORDER BY created_at DESC",
                (job_id,),
            ).fetchall()
        return [_row(r) for r in rows]

    def list(self, *, provider: str | None = None, limit: int = 20) -> list[IndexedJob]:
        """Most recently created first."""
        if not self.path.exists():
            return []
        query = (
            "SELECT job_id, provider, connection, model, training_file, created_at, last_status"
            " FROM jobs"
        )
        params: tuple[Any, ...] = ()
        if provider:
            query += " WHERE provider = ?"
            params = (provider,)
        query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._connect() as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [_row(r) for r in rows]


def _row(row: tuple[Any, ...]) -> IndexedJob:
    return IndexedJob(
        job_id=row[0],
        provider=row[1],
        connection=json.loads(row[2] or "{}"),
        model=row[3],
        training_file=row[4],
        created_at=row[5],
        last_status=row[6],
    )
