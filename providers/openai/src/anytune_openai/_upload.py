"""Getting a local file to OpenAI: ``files.create`` up to the single-request limit, the Uploads
API in parts above it, progress reported as bytes are sent, and the same content on the same
account uploaded only once -- also when several threads or processes upload it at the same time
(``_lock.content_lock`` around the cache look-up and the upload). Listing and deleting files
live here too, so that a deleted file is also dropped from the cache."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from anytune.errors import ConfigurationError, NotFoundError
from anytune.provider import ProgressCallback
from anytune.types import FileObject
from anytune_openai._convert import to_file
from anytune_openai._filecache import FileCache, sha256_of
from anytune_openai._lock import content_lock
from anytune_openai._paging import cursor, paged

if TYPE_CHECKING:
    from openai import OpenAI

T = TypeVar("T")
log = logging.getLogger("anytune.openai")

SINGLE_REQUEST_LIMIT = 512 * 1024 * 1024
"""files.create takes files up to 512 MB; larger ones go through the Uploads API."""
PART_SIZE = 64 * 1024 * 1024
"""The Uploads API takes parts of at most 64 MB."""
MIME_TYPE = "text/jsonl"


class Caller(Protocol):
    """Runs one SDK call with the provider's error translation and retry policy."""

    def __call__(self, fn: Callable[[OpenAI], T], /) -> T: ...


class _ProgressReader(io.BufferedReader):
    """A file that reports how much of it has been read (the HTTP client streams from it)."""

    def __init__(self, path: Path, total: int, progress: ProgressCallback | None):
        super().__init__(io.FileIO(path, "rb"))
        self._total = total
        self.done = 0
        self._progress = progress

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = super().seek(offset, whence)
        self.done = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.done += len(data)
        if data and self._progress is not None:
            self._progress(min(self.done, self._total), self._total)
        return data


class Uploader:
    """Uploads for one provider instance (see the module docstring)."""

    def __init__(
        self,
        *,
        provider: str,
        account: str,
        call: Caller,
        cache: FileCache,
        lock_dir: Path,
        single_request_limit: int = SINGLE_REQUEST_LIMIT,
        part_size: int = PART_SIZE,
    ):
        if part_size <= 0 or single_request_limit < 0:
            raise ConfigurationError("part_size must be > 0 and multipart_threshold >= 0")
        self.provider = provider
        self.account = account
        self.call = call
        self.cache = cache
        self.lock_dir = lock_dir
        self.single_request_limit = single_request_limit
        self.part_size = part_size

    def get(self, file_id: str) -> FileObject:
        return self.call(lambda c: to_file(c.files.retrieve(file_id), self.provider))

    def list(self, purpose: str | None, limit: int) -> list[FileObject]:
        """Newest first, at most ``limit``."""
        if limit <= 0:
            return []
        size = min(limit, 10_000)  # the API's own maximum page
        files: list[FileObject] = []
        items = paged(
            lambda after: self.call(
                lambda c: c.files.list(
                    limit=size, order="desc", purpose=cursor(purpose), after=cursor(after)
                )
            ),
            what=f"{self.provider} files",
        )
        for item in items:
            files.append(to_file(item, self.provider))
            if len(files) >= limit:
                break
        return files

    def delete(self, file_id: str) -> None:
        """Delete the file (``NotFoundError`` if there is none) and forget it in the cache, so
        that the same content is uploaded again next time instead of reusing a dead id."""
        sent = False

        def send(client: OpenAI) -> Any:
            import openai

            nonlocal sent
            try:
                return client.files.delete(file_id)
            except openai.NotFoundError:
                if sent:  # a retry after a delete whose response was lost: it is gone
                    return None
                raise
            finally:
                sent = True

        self.cache.forget_file(self.account, file_id)
        self.call(send)

    def upload(self, path: Path, purpose: str, progress: ProgressCallback | None) -> FileObject:
        path = Path(path)
        if not path.is_file():
            raise ConfigurationError(f"{path}: no such file", hint="check the path")
        size = path.stat().st_size
        digest = sha256_of(path)
        # Held across the look-up and the upload: whoever comes second finds the first's
        # upload in the cache instead of sending the same bytes again.
        with content_lock(self.lock_dir, digest):
            reused = self._reuse(digest, size, purpose)
            if reused is not None:
                if progress is not None:
                    progress(size, size)
                return reused
            if size > self.single_request_limit:
                uploaded = self._multipart(path, size, purpose, progress)
            else:
                uploaded = self._single(path, size, purpose, progress)
            self.cache.put(self.account, digest, purpose, uploaded.id, size)
        return replace(uploaded, sha256=digest)

    def _reuse(self, digest: str, size: int, purpose: str) -> FileObject | None:
        """The earlier upload of this content, if the account still has it intact."""
        recorded = self.cache.get(self.account, digest, purpose)
        if recorded is None:
            return None
        file_id, recorded_size = recorded
        try:
            existing = self.get(file_id)
        except NotFoundError:
            existing = None
        usable = (
            existing is not None
            and existing.bytes == size == recorded_size
            and existing.status not in ("error", "deleted")
        )
        if not usable or existing is None:
            log.info("%s: recorded upload %s is gone; uploading again", self.provider, file_id)
            self.cache.forget(self.account, digest, purpose)
            return None
        log.info("%s: same content already uploaded as %s; reusing it", self.provider, file_id)
        return replace(existing, sha256=digest)

    def _single(
        self, path: Path, size: int, purpose: str, progress: ProgressCallback | None
    ) -> FileObject:
        reported = 0

        def send(client: OpenAI) -> Any:
            nonlocal reported
            with _ProgressReader(path, size, progress) as reader:
                created = client.files.create(
                    file=(path.name, reader, MIME_TYPE), purpose=cast(Any, purpose)
                )
                reported = reader.done
                return created

        uploaded = to_file(self.call(send), self.provider)
        if progress is not None and reported < size:
            progress(size, size)
        return uploaded

    def _multipart(
        self, path: Path, size: int, purpose: str, progress: ProgressCallback | None
    ) -> FileObject:
        upload = self.call(
            lambda c: c.uploads.create(
                bytes=size, filename=path.name, mime_type=MIME_TYPE, purpose=cast(Any, purpose)
            )
        )
        md5 = hashlib.md5(usedforsecurity=False)
        part_ids: list[str] = []
        done = 0
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(self.part_size):
                    md5.update(chunk)
                    part = self.call(
                        lambda c, data=chunk: c.uploads.parts.create(upload.id, data=data)  # type: ignore[misc]
                    )
                    part_ids.append(part.id)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, size)
            completed = self.call(
                lambda c: c.uploads.complete(upload.id, part_ids=part_ids, md5=md5.hexdigest())
            )
        except BaseException:
            self._cancel(upload.id)
            raise
        if completed.file is None:
            raise NotFoundError(
                f"upload {upload.id} completed without a file (status {completed.status})",
                provider=self.provider,
            )
        return to_file(completed.file, self.provider)

    def _cancel(self, upload_id: str) -> None:
        try:
            self.call(lambda c: c.uploads.cancel(upload_id))
        except Exception as exc:  # best effort: the upload expires by itself within an hour
            log.info("%s: could not cancel upload %s: %s", self.provider, upload_id, exc)
