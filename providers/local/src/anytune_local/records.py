"""The rows of the local store (``store.py``): its schema and record types."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    purpose TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    model TEXT NOT NULL,
    spec TEXT NOT NULL,
    fine_tuned_model TEXT,
    trained_tokens INTEGER,
    error_code TEXT,
    error_message TEXT,
    resolved_hyperparameters TEXT,
    estimated_finish REAL,
    requested_action TEXT,
    worker_pid INTEGER,
    worker_started REAL,
    worker_host TEXT,
    heartbeat REAL,
    training_pid INTEGER,
    attempt INTEGER NOT NULL DEFAULT 0,
    resume_from TEXT,
    progress TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    metrics TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    created_at REAL NOT NULL,
    path TEXT NOT NULL,
    metrics TEXT
);
CREATE INDEX IF NOT EXISTS checkpoints_job ON checkpoints(job_id, step);
"""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE jobs ADD COLUMN progress TEXT",),
}
"""Statements that bring a store of schema version N up to ``SCHEMA_VERSION``."""

EVENT_PREFIX = "ftevent-"
CHECKPOINT_PREFIX = "ftckpt-"

ACTIVE_STATUSES: tuple[str, ...] = ("validating_files", "queued", "running")
"""Statuses in which a worker process is supposed to exist."""


@dataclass(frozen=True)
class FileRecord:
    id: str
    filename: str
    bytes: int
    created_at: float
    purpose: str
    sha256: str
    path: str


@dataclass(frozen=True)
class JobRecord:
    """One row of the jobs table."""

    seq: int
    id: str
    status: str
    created_at: float
    model: str
    spec: str
    """The validated ``JobSpec`` as JSON, plus ``base_model``: the model path made absolute."""
    started_at: float | None = None
    finished_at: float | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    resolved_hyperparameters: str | None = None
    estimated_finish: float | None = None
    requested_action: str | None = None
    worker_pid: int | None = None
    worker_started: float | None = None
    """The worker's process start time (psutil ``create_time``), to detect pid reuse."""
    worker_host: str | None = None
    heartbeat: float | None = None
    training_pid: int | None = None
    attempt: int = 0
    resume_from: str | None = None
    progress: str | None = None
    """The latest step metrics as JSON (``Metrics.to_dict()``), for ``status``."""

    @property
    def spec_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.spec)
        return data
