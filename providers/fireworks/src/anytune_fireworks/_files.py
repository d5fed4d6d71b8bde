"""Files on Fireworks are datasets: created with an id the client chooses, then filled.

anytune names each dataset after its content: ``anytune-<sha256 prefix>-<size in bytes>``.
That makes an upload exactly once by itself (a retry, or the same content uploaded again,
finds the dataset by id; a create whose answer was lost is answered 409 ALREADY_EXISTS the
next time). Fireworks' Dataset reports no size: a dataset read back has ``bytes=None``
(the id's size part only keeps ids of earlier anytune versions stable; it is never parsed).

Files up to ``single_request_limit`` (Fireworks: 150 MB) go in one ``datasets.upload``
request; larger ones through ``getUploadEndpoint``, a PUT of the bytes to the signed URL (plain
httpx: the SDK has no call for it, and the URL must not get Fireworks' credentials), and
``validateUpload``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune.errors import ConflictError, DatasetError, InvalidArgumentError, NotFoundError
from anytune.provider import ProgressCallback
from anytune.types import FileObject, JobStatus
from anytune_fireworks._convert import to_file

if TYPE_CHECKING:
    from fireworks import Fireworks

    from anytune_fireworks.provider import FireworksProvider

SINGLE_REQUEST_LIMIT = 150 * 1024 * 1024


class _ProgressReader(io.BufferedReader):
    """A file that reports how much of it has been read (the HTTP client streams from it)."""

    def __init__(self, path: Path, total: int, progress: ProgressCallback | None):
        super().__init__(io.FileIO(path, "rb"))
        self._total = total
        self.done = 0
        self._progress = progress

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.done += len(data)
        if data and self._progress is not None:
            self._progress(min(self.done, self._total), self._total)
        return data


def digest_and_count(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and its number of non-blank lines, in one streaming pass."""
    sha = hashlib.sha256()
    lines = 0
    with path.open("rb") as fh:
        for raw in fh:
            sha.update(raw)
            if raw.strip():
                lines += 1
    return sha.hexdigest(), lines


def dataset_id_for(digest: str, size: int) -> str:
    return f"anytune-{digest[:24]}-{size}"


def upload(
    provider: FireworksProvider, path: Path, purpose: str, progress: ProgressCallback | None
) -> FileObject:
    if not path.is_file():
        raise InvalidArgumentError(f"{path}: no such file", hint="check the path")
    if purpose != "fine-tune":
        raise InvalidArgumentError(
            f"{provider.name} datasets have no purpose {purpose!r}", hint="use fine-tune"
        )
    size = path.stat().st_size
    digest, examples = digest_and_count(path)
    dataset_id = dataset_id_for(digest, size)
    existing = _existing(provider, dataset_id)
    if existing is None or existing.status != "ready":
        if existing is None:
            _create(provider, dataset_id, path.name, examples)
        if size > provider.single_request_limit:
            _upload_signed(provider, dataset_id, path, size, progress)
        else:
            _upload_single(provider, dataset_id, path, size, progress)
        existing = get(provider, dataset_id)
    if progress is not None:
        progress(size, size)
    if existing.status not in ("ready", None):
        raise DatasetError(
            f"{path}: Fireworks did not accept the dataset (state {existing.status})",
            problems=[f"{path}: dataset {dataset_id} is {existing.status}"],
            hint="check the file with anytune validate FILE -p fireworks",
            provider=provider.name,
        )
    # The one time the size is known: the bytes just uploaded.
    return FileObject(**{**existing.to_dict(), "sha256": digest, "bytes": size})


def _existing(provider: FireworksProvider, dataset_id: str) -> FileObject | None:
    try:
        return get(provider, dataset_id)
    except NotFoundError:
        return None


def _create(provider: FireworksProvider, dataset_id: str, filename: str, examples: int) -> None:
    body = {"user_uploaded": {}, "example_count": str(examples), "display_name": filename[:64]}
    # ConflictError: an earlier attempt (whose answer was lost) or another process created it.
    with contextlib.suppress(ConflictError):
        provider._call(lambda c: c.datasets.create(dataset_id=dataset_id, dataset=body))  # type: ignore[arg-type]


def _upload_single(
    provider: FireworksProvider,
    dataset_id: str,
    path: Path,
    size: int,
    progress: ProgressCallback | None,
) -> None:
    def send(client: Fireworks) -> Any:
        with _ProgressReader(path, size, progress) as reader:
            return client.datasets.upload(dataset_id, file=(path.name, reader, "application/jsonl"))

    provider._call(send)


def _upload_signed(
    provider: FireworksProvider,
    dataset_id: str,
    path: Path,
    size: int,
    progress: ProgressCallback | None,
) -> None:
    import httpx

    endpoint = provider._call(
        lambda c: c.datasets.get_upload_endpoint(
            dataset_id, filename_to_size={path.name: str(size)}
        )
    )
    url = (endpoint.filename_to_signed_urls or {}).get(path.name)
    if not url:
        raise NotFoundError(
            f"{provider.name} gave no upload URL for {path.name}", provider=provider.name
        )

    def put(_: Fireworks) -> None:
        with _ProgressReader(path, size, progress) as reader:
            # A signed URL: no Fireworks credentials go with it.
            response = httpx.put(
                url,
                content=iter(lambda: reader.read(1 << 20), b""),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                timeout=httpx.Timeout(600.0, connect=30.0),
            )
            response.raise_for_status()

    provider._call(put)
    provider._call(lambda c: c.datasets.validate_upload(dataset_id, body={}))


def get(provider: FireworksProvider, dataset_id: str) -> FileObject:
    return to_file(provider._call(lambda c: c.datasets.get(dataset_id)), provider.name)


def listing(provider: FireworksProvider, purpose: str | None, limit: int) -> list[FileObject]:
    if limit <= 0 or purpose not in (None, "fine-tune"):
        return []
    files: list[FileObject] = []

    def fetch(client: Fireworks) -> list[FileObject]:
        found: list[FileObject] = []
        page = client.datasets.list(page_size=min(limit, 200), order_by="create_time desc")
        for item in page:  # the SDK follows nextPageToken
            found.append(to_file(item, provider.name))
            if len(found) >= limit:
                break
        return found

    files = provider._call(fetch)
    files.sort(key=lambda f: (f.created_at, f.id), reverse=True)
    return files[:limit]


def delete(provider: FireworksProvider, dataset_id: str) -> None:
    import fireworks

    sent = False

    def send(client: Fireworks) -> Any:
        nonlocal sent
        try:
            return client.datasets.delete(dataset_id)
        except fireworks.NotFoundError:
            if sent:  # a retry after a delete whose answer was lost: it is gone
                return None
            raise
        finally:
            sent = True

    provider._call(send)


def download(provider: FireworksProvider, job_id: str, directory: Path) -> Path:
    """The fine-tuned model's files (a PEFT LoRA adapter) into ``directory``."""
    import httpx

    job = provider.get_job(job_id)
    if job.status != JobStatus.SUCCEEDED or not job.fine_tuned_model:
        raise NotFoundError(
            f"job {job_id} has no trained model to download: it is {job.status}",
            hint="wait for it to succeed (anytune wait JOB)",
            provider=provider.name,
        )
    model = job.fine_tuned_model
    endpoint = provider._call(lambda c: c.models.get_download_endpoint(model))
    urls = endpoint.filename_to_signed_urls or {}
    if not urls:
        raise NotFoundError(
            f"{provider.name} offers no files for model {model}", provider=provider.name
        )
    target = directory / re.sub(r"[^A-Za-z0-9._-]", "_", model)
    target.mkdir(parents=True, exist_ok=True)
    for filename, url in sorted(urls.items()):
        name = Path(filename).name  # never write outside the target directory
        partial = target / f".{name}.part"

        def fetch(_: Fireworks, url: str = url, partial: Path = partial) -> None:
            with httpx.stream("GET", url, timeout=httpx.Timeout(600.0, connect=30.0)) as response:
                response.raise_for_status()
                with partial.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)

        try:
            provider._call(fetch)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target / name)
    (target / "anytune_job.json").write_text(json.dumps(job.to_dict(), indent=2) + "\n")
    return target
