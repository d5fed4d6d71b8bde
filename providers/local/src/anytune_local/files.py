"""Uploaded files: copied into the store under their SHA-256, so the same bytes uploaded twice
are one file with one id (``file-<first 24 hex digits>``)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from anytune.provider import ProgressCallback
from anytune.types import FileObject
from anytune_local.store import FileRecord, Store

_CHUNK = 1 << 20


def store_file(
    store: Store, source: Path, *, purpose: str, progress: ProgressCallback | None = None
) -> FileRecord:
    """Copy ``source`` into ``store.files_dir`` (hashing as it copies) and record it."""
    total = source.stat().st_size
    store.files_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(dir=store.files_dir, prefix=".upload-")
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
