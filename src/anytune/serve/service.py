"""What the routes call: the provider through the contract, plus the server's own state.

Everything here blocks (provider calls, SQLite, file copies); the routes run it in the thread
pool. Reads of a job and its events are shared by its pollers (``serve.reads``), so fifty
clients polling cost the provider, and nearly the server, about what one does.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from anytune.errors import AnytuneError, NotFoundError, UnsupportedOperationError
from anytune.provider import Provider
from anytune.serve.auth import KeyRing
from anytune.serve.errors import APIError, from_anytune, invalid, not_found
from anytune.serve.reads import JobReads
from anytune.serve.state import FileRow, JobRow, State

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    provider: str
    data_dir: Path
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    keys: KeyRing = field(default_factory=KeyRing)
    models: Mapping[str, str] = field(default_factory=dict)
    """Base models offered, public name -> the provider's model (e.g. a local directory).
    Requests may name only these, so no request names a server path."""
    job_options: Mapping[str, Any] = field(default_factory=dict)
    """Provider options applied to every job (OpenAI's API has no place for them)."""
    max_upload_bytes: int = 512 * MB
    max_body_bytes: int = 8 * MB
    cache_seconds: float = 0.5


def _safe_part(text: str) -> str:
    """A piece of a model name: no colons, slashes or other path characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:64] or "model"


class Service:
    def __init__(self, config: ServeConfig, provider: Provider) -> None:
        self.config = config
        self.provider = provider
        self.state = State(config.data_dir)
        self._paths = _server_paths(config, provider)
        self.reads = JobReads(
            provider=provider,
            state=self.state,
            call=self.call,
            redact=self.redact,
            cache_seconds=config.cache_seconds,
        )

    def redact(self, text: str) -> str:
        """``text`` (a provider's event or error message) without this machine's paths."""
        for path, label in self._paths:
            text = text.replace(path, label)
        return text

    def call(self, fn: Any, *args: Any, param: str | None = None, **kwargs: Any) -> Any:
        """Run a provider operation, its anytune errors as OpenAI's."""
        try:
            return fn(*args, **kwargs)
        except AnytuneError as exc:
            error = from_anytune(exc, param=param)
            error.message = self.redact(error.message)
            raise error from None

    # -- models ----------------------------------------------------------------------------
    def base_model(self, name: str, *, param: str = "model") -> str:
        """The provider's model for the public base model ``name`` (one of ``--model``).

        Only configured names are accepted, so no request ever names a path on the server.
        """
        if name in self.config.models:
            return self.config.models[name]
        offered = ", ".join(sorted(self.config.models)[:10]) or "none (start it with --model)"
        raise not_found(
            f"The model `{name}` does not exist or you do not have access to it. "
            f"Base models on this server: {offered}.",
            param=param,
            code="model_not_found",
        )

    def model_name(self, base: str, project: str, suffix: str | None) -> str:
        """OpenAI's form, ``ft:BASE:ORG:SUFFIX:ID`` (SUFFIX may be empty)."""
        base_part = _safe_part(Path(base).name if "/" in base else base)
        return f"ft:{base_part}:{project}:{_safe_part(suffix) if suffix else ''}:{secrets.token_hex(4)}"

    # -- files -----------------------------------------------------------------------------
    def store_file(self, project: str, filename: str, purpose: str, source: BinaryIO) -> FileRow:
        """Copy ``source`` into a blob named by a fresh id and hand that to the provider."""
        file_id = f"file-{secrets.token_hex(12)}"
        target = self.state.blob(file_id)
        digest = hashlib.sha256()
        size = 0
        with target.open("wb") as out:
            while chunk := source.read(MB):
                size += len(chunk)
                if size > self.config.max_upload_bytes:
                    out.close()
                    target.unlink(missing_ok=True)
                    raise too_large(self.config.max_upload_bytes)
                digest.update(chunk)
                out.write(chunk)
        return self.register_blob(project, file_id, filename, purpose, size, digest.hexdigest())

    def register_blob(
        self, project: str, file_id: str, filename: str, purpose: str, size: int, sha256: str
    ) -> FileRow:
        target = self.state.blob(file_id)
        try:
            uploaded = self.call(self.provider.upload_file, target, purpose=purpose, param="file")
        except APIError:
            target.unlink(missing_ok=True)
            raise
        row = FileRow(
            id=file_id,
            project=project,
            provider_id=uploaded.id,
            filename=filename,
            bytes=size,
            created_at=int(time.time()),
            purpose=purpose,
            sha256=sha256,
        )
        self.state.add_file(row)
        return row

    def file(self, project: str, file_id: str, *, param: str = "file_id") -> FileRow:
        row = self.state.get_file(project, file_id)
        if row is None:
            raise not_found(f"No such File object: {file_id}", param=param)
        return row

    def delete_file(self, project: str, file_id: str) -> None:
        """Forget the project's file; the provider's copy goes when no project holds it."""
        row = self.file(project, file_id)
        shared = any(
            other.id != row.id for other in self.state.files_with_provider_id(row.provider_id)
        )
        if not shared:
            try:
                self.provider.delete_file(row.provider_id)
            except (NotFoundError, UnsupportedOperationError):
                pass  # already gone, or a provider that keeps files: the server's copy goes
            except AnytuneError as exc:
                raise from_anytune(exc, param="file_id") from None
        self.state.delete_file(project, file_id)
        self.state.blob(file_id).unlink(missing_ok=True)

    # -- jobs ------------------------------------------------------------------------------
    def job_row(self, project: str, job_id: str) -> JobRow:
        row = self.state.get_job(project, job_id)
        if row is None:
            raise not_found(f"Could not find fine-tuning job: {job_id}", param="fine_tuning_job_id")
        return row

    # The provider's view of a job and its events, shared by its pollers (serve.reads).
    def job(self, row: JobRow, *, fresh: bool = False) -> Any:
        return self.reads.job(row.id, fresh=fresh)

    def remember(self, row: JobRow, job: Any) -> None:
        self.reads.remember(row.id, job)

    def forget(self, job_id: str) -> None:
        self.reads.forget(job_id)

    def sync_events(self, row: JobRow) -> None:
        self.reads.sync_events(row.id)

    def delete_model(self, project: str, model_name: str) -> bool:
        """Mark the project's fine-tuned model deleted; False if it has no such model."""
        row = self.state.job_by_model(project, model_name)
        if row is None or not self.state.delete_model(project, model_name):
            return False
        self.reads.changed(row.id)  # its job no longer shows the model
        return True

    def resolve_model(self, project: str, name: str) -> tuple[str, int, str]:
        """``(provider model, created, owned_by)`` for a model the project may use."""
        if name.startswith("ft:"):
            base_name, _, step = name.partition(":ckpt-step-")
            row = self.state.job_by_model(project, base_name)
            if row is not None and not row.model_deleted:
                job = self.job(row)
                if job.fine_tuned_model and not step:
                    return (
                        str(job.fine_tuned_model),
                        int(job.finished_at or row.created_at),
                        project,
                    )
                if step.isdigit():
                    for checkpoint in self.call(self.provider.list_checkpoints, row.id):
                        if checkpoint.step == int(step):
                            return (
                                checkpoint.fine_tuned_model_checkpoint,
                                checkpoint.created_at,
                                project,
                            )
            raise not_found(
                f"The model `{name}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return self.base_model(name), 0, "system"


def _server_paths(config: ServeConfig, provider: Provider) -> list[tuple[str, str]]:
    """Paths of this machine that provider messages may contain, and what to show instead."""
    from anytune import config as anytune_config

    found: dict[str, str] = {}
    for alias, target in config.models.items():
        for form in (target, str(Path(target).expanduser().resolve())):
            if len(form) > 1 and ("/" in form or "\\" in form):
                found[form] = alias
    homes = [str(config.data_dir), str(anytune_config.home())]
    homes += [str(v) for v in config.provider_options.values() if isinstance(v, str) and "/" in v]
    home = getattr(provider, "home", None)  # many providers keep state in a directory
    if home is not None:
        homes.append(str(home))
    for path in homes:
        for form in (path, str(Path(path).expanduser().resolve())):
            if len(form) > 1:
                found.setdefault(form, "<server>")
    # Longest first, so a model inside the home is named by its alias.
    return sorted(found.items(), key=lambda item: len(item[0]), reverse=True)


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"The file is too large: this server accepts at most {limit} bytes per upload.",
        param="file",
        code="file_too_large",
    )


def copy_blobs(parts: list[Path], target: Path) -> tuple[int, str]:
    """Concatenate upload parts into ``target``; returns its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(MB):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    return size, digest.hexdigest()


def check_purpose(purpose: Any) -> str:
    known = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
    if purpose not in known:
        raise invalid(f"{purpose!r} is not one of {list(known)} - 'purpose'", param="purpose")
    if purpose != "fine-tune":
        raise invalid(
            f"anytune serve keeps only fine-tuning files; purpose {purpose!r} is not supported "
            "(use 'fine-tune').",
            param="purpose",
        )
    return str(purpose)


__all__ = ["ServeConfig", "Service", "check_purpose", "copy_blobs", "too_large"]
