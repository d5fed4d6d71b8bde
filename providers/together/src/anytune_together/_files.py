"""Files on Together: Together's own file check, upload with progress, get / list / delete,
and downloading a trained model. Kept out of ``provider.py`` (one idea per module)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune.dataset.report import Problem
from anytune.errors import DatasetError, InvalidArgumentError, NotFoundError
from anytune.provider import ProgressCallback
from anytune.types import FileObject, JobStatus
from anytune_together import _weights
from anytune_together._convert import to_file

if TYPE_CHECKING:
    from together import Together

    from anytune_together.provider import TogetherProvider

SUFFIXES = (".jsonl", ".parquet")


def check(path: Path, purpose: str) -> list[Problem]:
    """Together's ``check_file`` report as ``file:line: what`` problems (empty: passed)."""
    from together.lib.utils.files import check_file

    if path.suffix not in SUFFIXES:
        return [
            Problem(
                str(path),
                None,
                f"Together takes files named *.jsonl (or *.parquet), not "
                f"{path.suffix or 'no suffix'} (rename or copy the file)",
            )
        ]
    report = check_file(path, purpose=purpose)
    if report.get("is_check_passed"):
        return []
    line = report.get("line_number")
    message = str(report.get("message") or "Together file check failed")
    return [Problem(str(path), int(line) if line else None, message)]


def upload(
    provider: TogetherProvider, path: Path, purpose: str, progress: ProgressCallback | None
) -> FileObject:
    if not path.is_file():
        raise InvalidArgumentError(f"{path}: no such file", hint="check the path")
    problems = check(path, purpose)
    if problems:
        raise DatasetError(
            f"{path}: Together's file check failed; nothing was uploaded",
            problems=[str(p) for p in problems],
            hint="fix the file (anytune validate FILE -p together shows every problem)",
            provider=provider.name,
        )
    with tempfile.TemporaryDirectory(prefix="anytune-together-") as scratch:
        if purpose == "fine-tune" and _weights.has_weights(path):
            path = _weights.with_openai_weights(path, Path(scratch))
        return _send(provider, path, purpose, progress)


def _send(
    provider: TogetherProvider, path: Path, purpose: str, progress: ProgressCallback | None
) -> FileObject:
    size = path.stat().st_size

    def on_progress(event: Any) -> None:
        if progress is not None:
            progress(min(int(event.uploaded_bytes), size), size)

    def send(client: Together) -> Any:
        # check=False: the same check just ran above, with anytune's error.
        return client.files.upload(
            file=path, purpose=purpose, check=False, progress_callback=on_progress
        )

    uploaded = to_file(provider._call(send), provider.name)
    if progress is not None:
        progress(size, size)  # also when Together already had the content (no bytes sent)
    if uploaded.status in ("failed", "invalid_format"):
        detail = _validation_error(provider, uploaded.id)
        raise DatasetError(
            f"{path}: Together refused the file after upload ({uploaded.status}): {detail}",
            problems=[f"{path}: {detail}"],
            hint=f"fix the file and upload it again (file {uploaded.id} is unusable; "
            f"anytune files delete {uploaded.id} -p together)",
            provider=provider.name,
        )
    return uploaded


def _validation_error(provider: TogetherProvider, file_id: str) -> str:
    raw = provider._call(lambda c: c.files.retrieve(file_id))
    report = getattr(raw, "validation_report", None)
    return str(getattr(report, "error", None) or "no reason given")


def get(provider: TogetherProvider, file_id: str) -> FileObject:
    return to_file(provider._call(lambda c: c.files.retrieve(file_id)), provider.name)


def listing(provider: TogetherProvider, purpose: str | None, limit: int) -> list[FileObject]:
    """Newest first (Together lists every file at once, in no documented order)."""
    if limit <= 0:
        return []
    files = [to_file(f, provider.name) for f in provider._call(lambda c: c.files.list().data)]
    if purpose is not None:
        files = [f for f in files if f.purpose == purpose]
    files.sort(key=lambda f: (f.created_at, f.id), reverse=True)
    return files[:limit]


def delete(provider: TogetherProvider, file_id: str) -> None:
    """Delete the file; ``NotFoundError`` if there is none (also when a retry finds that
    the first attempt, whose answer was lost, already deleted it: it is gone either way)."""
    import together

    sent = False

    def send(client: Together) -> Any:
        nonlocal sent
        try:
            return client.files.delete(file_id)
        except together.NotFoundError:
            if sent:
                return None
            raise
        finally:
            sent = True

    provider._call(send)


def download(
    provider: TogetherProvider, job_id: str, directory: Path, kind: str, step: int | None
) -> Path:
    if kind not in ("adapter", "merged"):
        raise InvalidArgumentError(
            f"kind must be 'adapter' or 'merged', got {kind!r}", provider=provider.name
        )
    job = provider.get_job(job_id)
    if job.status != JobStatus.SUCCEEDED:
        raise NotFoundError(
            f"job {job_id} has no trained model to download: it is {job.status}",
            hint="wait for it to succeed (anytune wait JOB)",
            provider=provider.name,
        )
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", job_id)
    target = directory / f"{safe}-{kind}{'-' + str(step) if step else ''}.tar.zst"
    partial = target.with_name(target.name + ".part")

    def fetch(client: Together) -> None:
        arguments: dict[str, Any] = {"ft_id": job_id, "checkpoint": kind}
        if step:
            arguments["checkpoint_step"] = step
        stream = client.fine_tuning.with_streaming_response.content(**arguments)
        with stream as response, partial.open("wb") as fh:
            for chunk in response.iter_bytes():
                fh.write(chunk)

    try:
        provider._call(fetch)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)  # never leave a half-written archive under the final name
    return target
