"""Uploaded files: copied into the store under their SHA-256, so the same bytes uploaded twice
are one file with one id (``file-<first 24 hex digits>``). Listing and deleting them; a file
a waiting or training job still needs cannot be deleted."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from anytune.dataset.reader import iter_lines
from anytune.errors import ConflictError, DatasetError, NotFoundError
from anytune.provider import ProgressCallback
from anytune.types import FileObject
from anytune_local.storage import check_id, storage_error
from anytune_local.store import ACTIVE_STATUSES, FileRecord, Store

_CHUNK = 1 << 20


def store_file(
    store: Store, source: Path, *, purpose: str, progress: ProgressCallback | None = None
) -> FileRecord:
    """Copy ``source`` into ``store.files_dir`` (hashing as it copies) and record it."""
    total = source.stat().st_size
    store.list_files(limit=1)  # opens (or creates) the store: its directories exist after this
    digest = hashlib.sha256()
    done = 0
    try:
        fd, tmp_name = tempfile.mkstemp(dir=store.files_dir, prefix=".upload-")  # mode 0600
    except OSError as exc:
        raise storage_error(exc, store.files_dir, home=store.home) from exc
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        sha = digest.hexdigest()
        target = store.files_dir / sha
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if exc.filename is not None and Path(exc.filename) == source:
            raise  # the source could not be read: the caller's error, not the store's
        raise storage_error(exc, store.files_dir, home=store.home) from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if progress is not None and total == 0:
        progress(0, 0)
    return store.add_file(
        FileRecord(
            id=f"file-{sha[:24]}",
            filename=source.name,
            bytes=done,
            created_at=time.time(),
            purpose=purpose,
            sha256=sha,
            path=str(target),
        )
    )


def file_object(record: FileRecord) -> FileObject:
    return FileObject(
        id=record.id,
        provider="local",
        filename=record.filename,
        bytes=record.bytes,
        created_at=int(record.created_at),
        purpose=record.purpose,
        status="processed",
        sha256=record.sha256,
    )


def find_file(store: Store, file_id: str) -> FileRecord:
    """The record of ``file_id``; ``NotFoundError`` saying how to upload one."""
    record = store.get_file(check_id("file", file_id))
    if record is None:
        raise NotFoundError(
            f"no uploaded file {file_id} in {store.home}",
            hint="upload it with `anytune upload FILE --provider local`",
            provider="local",
        )
    return record


def list_files(store: Store, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
    """Newest first; only those of ``purpose`` if given."""
    records = [r for r in reversed(store.list_files()) if purpose is None or r.purpose == purpose]
    return [file_object(r) for r in records[: max(0, limit)]]


def delete_file(store: Store, file_id: str) -> None:
    """Forget ``file_id`` and remove its bytes (unless another record shares them).

    Refused while a job that has not finished training (waiting, training or paused) uses it.
    """
    record = find_file(store, file_id)
    users = [
        job.id
        for job in store.jobs_with_status((*ACTIVE_STATUSES, "paused"))
        if file_id in (job.spec_dict.get("training_file"), job.spec_dict.get("validation_file"))
    ]
    if users:
        raise ConflictError(
            f"file {file_id} is used by job(s) {', '.join(users)}, which have not finished",
            hint="wait for them to end, or cancel them (`anytune cancel JOB`), then delete it",
            provider="local",
        )
    store.delete_file(file_id)
    if not any(other.path == record.path for other in store.list_files()):
        try:
            Path(record.path).unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error(exc, Path(record.path), home=store.home) from exc


def check_readable(record: FileRecord) -> None:
    """Every line of an uploaded file is readable JSON (the full format check runs in the
    worker); ``DatasetError`` lists the ones that are not."""
    problems = [
        f"{record.filename}:{line.lineno}: {line.error}"
        for line in iter_lines(record.path)
        if line.error is not None
    ]
    if problems:
        raise DatasetError(
            f"{record.filename} ({record.id}): {len(problems)} unreadable line(s)",
            problems=problems,
            hint=f"fix them, then upload again; `anytune validate {record.filename}` lists "
            "every problem",
            provider="local",
        )
