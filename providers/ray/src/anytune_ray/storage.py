"""Where a Ray job's files live: a location every node and the client can reach
(``-P storage=URI``: a shared path, or ``s3://`` / ``gs://`` and the rest of fsspec; on object
storage a job trains from a copy on its node's disk, see ``anytune_ray.staging``).

Layout under the root::

    files/<file-id>.jsonl, files/<file-id>.json   content-addressed uploads (sha256) + metadata
    jobs/<job>/job.json                           the job's record (anytune_ray.records)
    jobs/<job>/runs/<n>/                          one Ray submission: request.json,
                                                  events.jsonl, control, result*.json,
                                                  closed (its ending is in its events)
    jobs/<job>/checkpoints/checkpoint-<step>/     Trainer checkpoints (all runs of the job)
    jobs/<job>/adapter/                           the final PEFT adapter
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

from anytune.errors import ConfigurationError, NotFoundError, StorageError
from anytune.provider import ProgressCallback
from anytune.types import FileObject

NAME = "ray"
CHUNK = 1 << 20


class Storage:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        protocol, _ = fsspec.core.split_protocol(uri)
        # Listings are read again on every call: checkpoints and runs appear while a client
        # (one that waits on a job, or a server) keeps the same filesystem object.
        fresh = {} if protocol in (None, "file", "local") else {"use_listings_cache": False}
        try:
            fs, root = fsspec.core.url_to_fs(uri, **fresh)
        except (ImportError, ValueError, TypeError) as exc:
            # An unknown protocol, or a known one whose package is missing (s3fs, gcsfs).
            raise ConfigurationError(
                f"storage {uri!r} cannot be opened: {exc}",
                hint="use a shared path, or install the fsspec package for the URI's scheme "
                "(s3fs for s3://, gcsfs for gs://)",
                provider=NAME,
            ) from None
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self.local = isinstance(fs, LocalFileSystem)
        if self.local:
            self.root = os.path.abspath(self.root)
        self.process_local = protocol == "memory"
        """Storage only this process sees (``memory://``): no node can train from it."""

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def public(self, path: str) -> str:
        """The URI users see (a plain path for a shared directory)."""
        return path if self.local else self.fs.unstrip_protocol(path)

    # -- files ----------------------------------------------------------------------------
    def upload(
        self, source: Path, *, purpose: str, progress: ProgressCallback | None
    ) -> FileObject:
        size = source.stat().st_size
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        sha = digest.hexdigest()
        file_id = f"file-{sha[:24]}"
        data = self.path("files", f"{file_id}.jsonl")
        if not self.fs.exists(data):
            self.fs.makedirs(self.path("files"), exist_ok=True)
            partial = f"{data}.{os.getpid()}.partial"
            done = 0
            with source.open("rb") as handle, self.fs.open(partial, "wb") as out:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, size)
            self.fs.mv(partial, data)
        meta = FileObject(
            id=file_id,
            provider=NAME,
            filename=source.name,
            bytes=size,
            created_at=int(time.time()),
            purpose=purpose,
            status="processed",
            sha256=sha,
        )
        self.write_json(self.path("files", f"{file_id}.json"), meta.to_dict())
        if progress:
            progress(size, size)
        return meta

    def get_file(self, file_id: str) -> FileObject:
        if not file_id.startswith("file-") or "/" in file_id:
            raise NotFoundError(f"no file {file_id!r} in {self.uri}", provider=NAME)
        data = self.read_json(self.path("files", f"{file_id}.json"))
        if data is None or not self.fs.exists(self.file_data(file_id)):
            raise NotFoundError(f"no file {file_id!r} in {self.uri}", provider=NAME)
        return FileObject.from_dict(data)

    def file_data(self, file_id: str) -> str:
        return self.path("files", f"{file_id}.jsonl")

    def list_files(self) -> list[FileObject]:
        try:
            names = self.fs.ls(self.path("files"), detail=False)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if str(name).endswith(".json"):
                data = self.read_json(str(name))
                if data is not None:
                    found.append(FileObject.from_dict(data))
        return found

    def delete_file(self, file_id: str) -> None:
        self.get_file(file_id)
        self.fs.rm(self.file_data(file_id))
        self.fs.rm(self.path("files", f"{file_id}.json"))

    # -- small JSON files -----------------------------------------------------------------
    def read_json(self, path: str) -> Any:
        try:
            return json.loads(self.fs.cat_file(path))  # one GET (see ``read_from``)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(f"{self.public(path)}: cannot read: {exc}", path=path) from None

    def write_json(self, path: str, data: Any) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with self.fs.open(tmp, "wb") as out:
            out.write(json.dumps(data, sort_keys=True).encode())
        self.fs.mv(tmp, path)

    def write_text(self, path: str, text: str) -> None:
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(path, "wb") as out:
            out.write(text.encode())

    def create_once(self, path: str) -> bool:
        """Create the empty file ``path``; False if it exists (someone did first). Atomic on
        a shared path (O_EXCL); on an object store, check-then-write (a race can let two
        callers through: what it guards is an event line written once)."""
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if self.local:
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                return False
            return True
        if self.fs.exists(path):
            return False
        self.write_text(path, "")
        return True

    def append_line(self, path: str, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if self.local:
            with open(path, "a", encoding="utf-8") as out:
                out.write(line)
            return
        # Object stores have no append: rewrite (events files are small; the client writes
        # only a few lines per run).
        old = b""
        if self.fs.exists(path):
            with self.fs.open(path, "rb") as handle:
                old = handle.read()
        with self.fs.open(path, "wb") as out:
            out.write(old + line.encode())

    def age(self, path: str) -> float | None:
        """Seconds since ``path`` was last written (None when it is missing)."""
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        when = info.get("mtime") or info.get("LastModified") or info.get("updated")
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        if isinstance(when, datetime):
            when = when.timestamp()
        # A store that keeps no time: as old as can be (so nothing waits on it).
        return time.time() - float(when) if isinstance(when, (int, float)) else float("inf")

    def read_from(self, path: str, offset: int) -> bytes:
        """The bytes of ``path`` from ``offset`` on (b"" when missing)."""
        if self.local:
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    return handle.read()
            except FileNotFoundError:
                return b""
        # One ranged GET: an object rewritten between a HEAD and the read (the job uploads
        # its events while clients read them) is read as it is now, not refused as expired.
        for attempt in range(3):
            try:
                return bytes(self.fs.cat_file(path, start=offset or None))
            except FileNotFoundError:
                return b""
            except OSError:
                try:
                    if offset >= int(self.fs.info(path).get("size") or 0):
                        return b""  # nothing past the end (S3 answers 416)
                except FileNotFoundError:
                    return b""
                if attempt == 2:
                    raise
        return b""

    def byte_before(self, path: str, offset: int) -> bytes:
        if offset == 0:
            return b"\n"
        if self.local:
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset - 1)
                    return handle.read(1)
            except FileNotFoundError:
                return b""
        try:
            return bytes(self.fs.cat_file(path, start=offset - 1, end=offset))
        except (FileNotFoundError, OSError):
            return b""

    # -- directories ----------------------------------------------------------------------
    def run_count(self, job_id: str) -> int:
        """How many ``jobs/<job>/runs/<n>/`` folders there are (0, 1, ... with no gap): each
        is written before its Ray submission, so this counts the job's submissions for
        every machine that reads this storage."""
        try:
            names = self.fs.ls(self.path("jobs", job_id, "runs"), detail=False)
        except FileNotFoundError:
            return 0
        found = {str(n).rstrip("/").rsplit("/", 1)[-1] for n in names}
        count = 0
        while str(count) in found:
            count += 1
        return count

    def checkpoint_dirs(self, job_id: str) -> list[tuple[int, str, float]]:
        """(step, path, mtime) of ``jobs/<job>/checkpoints/checkpoint-<step>``, oldest step first."""
        try:
            entries = self.fs.ls(self.path("jobs", job_id, "checkpoints"), detail=True)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            step = name.removeprefix("checkpoint-")
            if (
                entry.get("type") == "directory"
                and name.startswith("checkpoint-")
                and step.isdigit()
            ):
                mtime = entry.get("mtime") or entry.get("created") or time.time()
                found.append((int(step), str(entry["name"]).rstrip("/"), float(mtime)))
        return sorted(found)

    def download_dir(self, path: str, dest: Path) -> list[str]:
        """Copy the directory ``path`` to ``dest`` (written beside it, then moved in)."""
        if not self.fs.isdir(path):
            raise NotFoundError(f"{self.public(path)} does not exist", provider=NAME)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        self.fs.get(path.rstrip("/") + "/", str(staging), recursive=True)
        written = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        if dest.exists():
            if any(dest.iterdir()):
                raise StorageError(
                    f"{dest} is not empty", path=str(dest), hint="choose an empty directory"
                )
            dest.rmdir()
        staging.rename(dest)
        return written
