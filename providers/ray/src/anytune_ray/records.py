"""The record of a Ray job: anytune job id -> spec, storage and Ray submissions.

Ray knows submissions; anytune's job is one or more of them (``resume`` makes the next one):
run ``n`` is the submission ``<job>-r<n>``. Two copies, both written before the first POST (so
a create whose answer is lost is found again by its id):

- ``jobs/<job>/job.json`` in the job's storage (id, created_at, the spec without secrets):
  what any machine pointed at the same cluster and storage reads, so a job created on one
  machine is listed, read, followed and cancelled from another. The runs are the
  ``jobs/<job>/runs/<n>/`` folders next to it (each written before its submission).
- ``$ANYTUNE_HOME/ray/jobs.db`` (SQLite, directory 0700, file 0600) on the creating machine:
  a cache of the same (``runs`` is raised to what storage shows), and the jobs this machine
  lists even when the cluster forgot them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    def to_record(self) -> dict[str, Any]:
        """What ``jobs/<job>/job.json`` holds (no address: each machine has its own)."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "storage": self.storage,
            "spec": json.loads(self.spec),
        }


def from_record(data: Any, *, job_id: str, address: str, runs: int) -> JobRow | None:
    """The row of another machine's job, from its ``job.json`` (None if it is not one)."""
    if not isinstance(data, dict) or data.get("id") != job_id:
        return None
    if not isinstance(data.get("spec"), dict) or not isinstance(
        data.get("created_at"), (int, float)
    ):
        return None
    return JobRow(
        id=job_id,
        address=address,
        storage=str(data.get("storage") or ""),
        spec=json.dumps(data["spec"]),
        created_at=float(data["created_at"]),
        runs=max(1, runs),
        closed_run=-1,
    )


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
        """Record a new job (a retried create keeps the first row)."""
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

    def note_runs(self, job_id: str, runs: int) -> None:
        """Raise the count of submissions to ``runs`` (another machine may have resumed the
        job; a count never goes down). No row (a job made elsewhere): nothing to do."""
        with self._db() as db:
            db.execute("UPDATE jobs SET runs = ? WHERE id = ? AND runs < ?", (runs, job_id, runs))

    def close_run(self, job_id: str, run: int) -> bool:
        """Mark ``run``'s ending as written; False if it already was."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE jobs SET closed_run = ? WHERE id = ? AND closed_run < ?",
                (run, job_id, run),
            )
            return cursor.rowcount == 1
