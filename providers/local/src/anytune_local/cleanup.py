"""``anytune local gc``: free disk space the local store no longer needs.

Removed: uploaded files no job refers to, uploads interrupted over an hour ago, and the
intermediate checkpoints of jobs that succeeded or were cancelled (their adapters stay). Kept: everything of active, paused and
failed jobs (a failed job may be resumed from its checkpoints).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from anytune.errors import ConflictError, NotFoundError
from anytune_local.store import ACTIVE_STATUSES, Store

FINISHED_WITHOUT_RESUME = ("succeeded", "cancelled")
STALE_UPLOAD_SECONDS = 3600.0
"""Partial uploads (an upload killed midway) older than this are removed."""


@dataclass
class Cleanup:
    """What ``collect`` found (and removed, unless it was a dry run)."""

    files: list[str] = field(default_factory=list)
    checkpoint_dirs: list[Path] = field(default_factory=list)
    partial_uploads: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def collect(store: Store, *, dry_run: bool = False) -> Cleanup:
    """Find (and unless ``dry_run``, delete) what no job needs any more."""
    result = Cleanup()
    jobs = store.list_jobs()
    referenced: set[str] = set()
    for job in jobs:
        spec = job.spec_dict
        referenced.update(f for f in (spec.get("training_file"), spec.get("validation_file")) if f)
    for record in store.list_files():
        if record.id in referenced:
            continue
        path = Path(record.path)
        result.files.append(record.id)
        result.freed_bytes += _size(path) if path.exists() else 0
        if not dry_run:
            store.delete_file(record.id)
            still_used = any(other.path == record.path for other in store.list_files())
            if not still_used:
                path.unlink(missing_ok=True)
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for partial in store.files_dir.glob(".upload-*"):
        if partial.stat().st_mtime < cutoff:
            result.partial_uploads.append(partial)
            result.freed_bytes += partial.stat().st_size
            if not dry_run:
                partial.unlink(missing_ok=True)
    for job in jobs:
        checkpoints = store.job_dir(job.id) / "checkpoints"
        if job.status not in FINISHED_WITHOUT_RESUME or not checkpoints.is_dir():
            continue
        result.checkpoint_dirs.append(checkpoints)
        result.freed_bytes += _size(checkpoints)
        if not dry_run:
            shutil.rmtree(checkpoints, ignore_errors=True)
            store.delete_checkpoints(job.id)
    return result


def delete_job_checkpoints(store: Store, job_id: str, *, dry_run: bool = False) -> Cleanup:
    """Remove one finished job's checkpoints; its adapter (the fine-tuned model) stays.

    Refused while the job is waiting, training or paused (it still needs them). A failed job
    can no longer be resumed afterwards, unless its worker died (it would start over).
    """
    record = store.get_job(job_id)
    if record is None:
        raise NotFoundError(f"no local job {job_id} in {store.home}", provider="local")
    if record.status in (*ACTIVE_STATUSES, "paused"):
        raise ConflictError(
            f"job {job_id} is {record.status} and still needs its checkpoints",
            hint="cancel it first (`anytune cancel JOB`), or wait for it to end",
            provider="local",
        )
    result = Cleanup()
    checkpoints = store.job_dir(job_id) / "checkpoints"
    if checkpoints.is_dir():
        result.checkpoint_dirs.append(checkpoints)
        result.freed_bytes += _size(checkpoints)
        if not dry_run:
            shutil.rmtree(checkpoints, ignore_errors=True)
    if not dry_run:
        store.delete_checkpoints(job_id)
    return result
