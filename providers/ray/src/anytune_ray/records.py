"""The client's record of its Ray jobs: anytune job id -> spec, storage and Ray submissions.

A small SQLite file, ``$ANYTUNE_HOME/ray/jobs.db`` (directory 0700, file 0600). Ray knows
submissions; anytune's job is one or more of them (``resume`` makes the next one), so this
record maps ``job`` -> ``runs``: run ``n`` is the submission ``<job>-r<n>``. The row is written
before the first POST, so a create whose answer is lost is found again by its id.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from anytune.config import private_dir, private_file
from anytune.errors import StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    storage TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    runs INTEGER NOT NULL DEFAULT 1,
    closed_run INTEGER NOT NULL DEFAULT -1
);
"""


@dataclass(frozen=True)
class JobRow:
    id: str
    address: str
    storage: str
    spec: str
    created_at: float
    runs: int
    """Submissions made so far; the latest is run ``runs - 1``."""
    closed_run: int
    """The latest run whose ending was written to its events (-1: none)."""

    @property
    def run(self) -> int:
        return self.runs - 1

    def submission_id(self, run: int | None = None) -> str:
        return submission_id(self.id, self.run if run is None else run)


def submission_id(job_id: str, run: int) -> str:
    return f"{job_id}-r{run}"


class Records:
    def __init__(self, home: Path) -> None:
        private_dir(home)
        self.path = private_file(home / "jobs.db")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot open: {exc}", path=str(self.path)) from None
        try:
            db.execute(SCHEMA)
            with db:
                yield db
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}", path=str(self.path)) from None
        finally:
            db.close()

    def insert(self, job_id: str, *, address: str, storage: str, spec: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO jobs (id, address, storage, spec, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, address, storage, spec, time.time()),
            )

    def get(self, job_id: str) -> JobRow | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id, address, storage, spec, created_at, runs, closed_run FROM jobs "
                "WHERE id = ?",
                (job_id,),
            ).fetchone()
        return JobRow(*row) if row else None

    def recent(self, address: str, limit: int) -> list[JobRow]:
        with self._db() as db:
            rows = db.execute(
                "SELECT id, address, storage, spec, created_at, runs, closed_run FROM jobs "
                "WHERE address = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (address, limit),
            ).fetchall()
        return [JobRow(*row) for row in rows]

    def next_run(self, job_id: str, expected_runs: int) -> bool:
        """Count one more submission, unless another client did meanwhile."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE jobs SET runs = runs + 1 WHERE id = ? AND runs = ?",
                (job_id, expected_runs),
            )
            return cursor.rowcount == 1

    def close_run(self, job_id: str, run: int) -> bool:
        """Mark ``run``'s ending as written; False if it already was."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE jobs SET closed_run = ? WHERE id = ? AND closed_run < ?",
                (run, job_id, run),
            )
            return cursor.rowcount == 1
