"""``OpenAIProvider``: anytune's provider contract over the official ``openai`` SDK.

>>> from anytune import Client
>>> client = Client("openai")           # OPENAI_API_KEY, OPENAI_BASE_URL, ... as usual
>>> f = client.files.create("train.jsonl")                                  # doctest: +SKIP
>>> job = client.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)  # doctest: +SKIP

Constructing a provider is cheap: it reads settings but neither imports ``openai`` nor needs
a key; the SDK client is built on the first API call. The SDK's own retries are switched off
and anytune's one retry policy (``anytune.retry``) is used instead, so that a create is
reconciled before it is ever sent twice (see ``create_job``).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from anytune import config
from anytune.errors import (
    AuthenticationError,
    ConflictError,
    InvalidArgumentError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from anytune.provider import (
    Capabilities,
    DatasetRules,
    OptionSpec,
    ProgressCallback,
    Provider,
    ValidatedSpec,
)
from anytune.retry import DEFAULT_ATTEMPTS, may_have_committed, retry_transient
from anytune.spec import HyperparameterLimits
from anytune.types import Checkpoint, Event, FileObject, Job, JobStatus, is_terminal, status_phrase
from anytune_openai import _spec, rules
from anytune_openai._convert import create_arguments, request_id_of, to_checkpoint, to_event, to_job
from anytune_openai._create import DEFAULT_WINDOW, CreateOnce
from anytune_openai._errors import ErrorContext, split_url_secrets, translated
from anytune_openai._filecache import FileCache
from anytune_openai._paging import cursor, paged
from anytune_openai._upload import PART_SIZE, SINGLE_REQUEST_LIMIT, Uploader
from anytune_openai.generation import ChatGeneration

if TYPE_CHECKING:
    from openai import OpenAI

T = TypeVar("T")
log = logging.getLogger("anytune.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PAGE_SIZE = 100
"""Events and jobs fetched per request: one request per poll in the usual case."""


def _number(name: str, value: Any, kind: type) -> Any:
    """Constructor options arrive as strings from ``-P key=value``."""
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise InvalidArgumentError(
            f"provider option {name}={value!r} is not {what}", hint=f"e.g. -P {name}=10"
        ) from None


class OpenAIProvider(ChatGeneration, Provider):
    """Fine-tuning on OpenAI through the official SDK.

    Settings (explicit arguments win over the environment): ``api_key`` (OPENAI_API_KEY),
    ``base_url`` (OPENAI_BASE_URL), ``organization`` (OPENAI_ORG_ID), ``project``
    (OPENAI_PROJECT_ID), ``timeout`` (seconds per request), ``max_retries`` (retries of a
    transient failure, default 5, backing off and honouring Retry-After),
    ``reconcile_seconds`` (how long a create whose outcome is unknown is looked for before it
    is sent again, and duplicates after; default 10, see ``submit_job``).
    ``multipart_threshold`` / ``part_size`` (bytes) choose when and how the Uploads API is
    used (512 MB / 64 MB by default).

    Credentials inside ``base_url`` (``https://user:password@proxy/v1``) are used for the
    connection but never kept in ``base_url``, stored or shown.
    """

    name: ClassVar[str] = "openai"
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pause_resume=True,
        checkpoints=True,
        methods=rules.METHODS,
        file_management=True,
        generate=True,
    )
    hyperparameter_limits: ClassVar[HyperparameterLimits] = _spec.LIMITS
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        "wandb_project": OptionSpec(str, None, "send metrics to this Weights & Biases project"),
        "wandb_entity": OptionSpec(str, None, "W&B team or user (needs wandb_project)"),
        "wandb_name": OptionSpec(str, None, "W&B run name (default: the job id)"),
        "wandb_tags": OptionSpec(list, None, "W&B run tags, comma-separated"),
    }
    connection_options: ClassVar[tuple[str, ...]] = ("base_url", "organization", "project")
    secret_connection_options: ClassVar[tuple[str, ...]] = ("api_key",)
    priced: ClassVar[bool] = True
    """Whether OpenAI's price table applies (it does not on Azure)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float | str | None = None,
        max_retries: int | str | None = None,
        *,
        multipart_threshold: int | str | None = None,
        part_size: int | str | None = None,
        reconcile_seconds: float | str | None = None,
    ):
        self._api_key = api_key or os.environ.get(self.key_env) or None
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.organization = organization or os.environ.get("OPENAI_ORG_ID") or None
        self.project = project or os.environ.get("OPENAI_PROJECT_ID") or None
        self.timeout: float | None = _number("timeout", timeout, float)
        retries = _number("max_retries", max_retries, int)
        self.attempts = 1 + (DEFAULT_ATTEMPTS - 1 if retries is None else max(0, retries))
        self._multipart_threshold = _number("multipart_threshold", multipart_threshold, int)
        self._part_size = _number("part_size", part_size, int)
        window = _number("reconcile_seconds", reconcile_seconds, float)
        self.reconcile_seconds: float = DEFAULT_WINDOW if window is None else max(0.0, window)
        self._sdk: OpenAI | None = None
        self._uploader: Uploader | None = None
        self._lock = threading.Lock()  # AsyncClient calls from worker threads

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API's base URL, without any credentials it was given with."""
        return self._public_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._connect_url = value.rstrip("/")
        self._public_url, self._url_secrets = split_url_secrets(self._connect_url)

    # -- plumbing ------------------------------------------------------------------------
    @property
    def _errors(self) -> ErrorContext:
        return ErrorContext(
            self.name, self.key_env, self._api_key, self.timeout, others=self._url_secrets
        )

    def _account(self) -> str:
        """Who owns uploaded files, for content reuse: never includes the key."""
        return f"{self.base_url}|org={self.organization or ''}|project={self.project or ''}"

    def _missing_key(self) -> AuthenticationError:
        return AuthenticationError(
            f"no API key for {self.name}",
            hint=f"set the {self.key_env} environment variable (keys: "
            "https://platform.openai.com/api-keys)",
            provider=self.name,
        )

    def _make_client(self) -> OpenAI:
        import openai

        return openai.OpenAI(
            api_key=self._api_key,
            base_url=self._connect_url,
            organization=self.organization,
            project=self.project,
            timeout=self.timeout if self.timeout is not None else openai.NOT_GIVEN,
            max_retries=0,  # anytune retries (and reconciles creates) itself
        )

    def _client(self) -> OpenAI:
        with self._lock:
            if self._sdk is None:
                if not self._api_key:
                    raise self._missing_key()
                with translated(self._errors):
                    self._sdk = self._make_client()
            return self._sdk

    def _once(self, fn: Callable[[OpenAI], T]) -> T:
        client = self._client()
        with translated(self._errors):
            return fn(client)

    def _call(self, fn: Callable[[OpenAI], T]) -> T:
        """One SDK call with error translation and the retry policy."""
        return retry_transient(lambda: self._once(fn), attempts=self.attempts, on_retry=self._log)

    def _log(self, exc: TransientError, delay: float) -> None:
        log.info("%s: %s; retrying in %.1f s", self.name, exc.message, delay)

    # -- files ---------------------------------------------------------------------------
    def _uploads(self) -> Uploader:
        if self._uploader is None:
            self._uploader = Uploader(
                provider=self.name,
                account=self._account(),
                call=self._call,
                cache=FileCache(config.home() / "openai-files.sqlite3"),
                lock_dir=config.home() / "openai-upload-locks",
                single_request_limit=self._multipart_threshold or SINGLE_REQUEST_LIMIT,
                part_size=self._part_size or PART_SIZE,
            )
        return self._uploader

    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        """Upload ``path``; the same content uploaded before to this account is reused."""
        return self._uploads().upload(Path(path), purpose, progress)

    def get_file(self, file_id: str) -> FileObject:
        return self._uploads().get(file_id)

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        """Uploaded files, newest first (only those of ``purpose`` if given), at most ``limit``."""
        return self._uploads().list(purpose, limit)

    def delete_file(self, file_id: str) -> None:
        """Delete an uploaded file (and forget it as an upload to reuse)."""
        self._uploads().delete(file_id)

    # -- jobs ----------------------------------------------------------------------------
    def check_spec(self, spec: ValidatedSpec) -> None:
        """OpenAI's limits on the create request (seed, suffix, metadata, integrations), so
        that a bad value is refused before anything is uploaded or sent."""
        _spec.check_spec(spec, self.name)

    def submit_job(self, spec: ValidatedSpec) -> Job:
        """Create a job, exactly once (see ``anytune_openai._create``).

        The SDK sends no idempotency key, so a create whose response was lost and is sent
        again would start a second, billed job. Each create carries a client-generated id in
        ``metadata["anytune_request_id"]``; after any failure that may have reached the server
        (connection dropped, timeout, 5xx) that id is looked up, for up to
        ``reconcile_seconds``, before trying again, and duplicates found after re-sending are
        cancelled and reported (``DuplicateJobWarning``). Passing your own
        ``anytune_request_id`` makes a create idempotent across runs as well.
        """
        request_id = str(spec.metadata.get("anytune_request_id") or uuid.uuid4().hex)
        kwargs = create_arguments(spec, request_id)
        return CreateOnce(
            provider=self.name,
            request_id=request_id,
            send=lambda: self._once(
                lambda c: to_job(c.fine_tuning.jobs.create(**kwargs), self.name)
            ),
            lookup=lambda: self._jobs_with_request_id(request_id),
            cancel=self.cancel_job,
            attempts=self.attempts,
            window=self.reconcile_seconds,
            user_request_id="anytune_request_id" in spec.metadata,
            on_retry=self._log,
        ).run()

    def _jobs_with_request_id(self, request_id: str) -> list[Job]:
        """Every job carrying ``request_id`` (one request in the usual case; no retry: the
        caller decides what an unknown answer means)."""
        items = paged(
            lambda after: self._once(
                lambda c: c.fine_tuning.jobs.list(
                    metadata={"anytune_request_id": request_id},
                    limit=PAGE_SIZE,
                    after=cursor(after),
                )
            ),
            what=f"{self.name} jobs",
            max_pages=10,
        )
        # Checked here too, in case a server ignores the metadata filter.
        return [to_job(j, self.name) for j in items if request_id_of(j) == request_id]

    def get_job(self, job_id: str) -> Job:
        return self._call(lambda c: to_job(c.fine_tuning.jobs.retrieve(job_id), self.name))

    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        if limit <= 0:
            return []
        size = min(PAGE_SIZE, limit)
        jobs: list[Job] = []
        items = paged(
            lambda after: self._call(
                lambda c: c.fine_tuning.jobs.list(limit=size, after=cursor(after))
            ),
            what=f"{self.name} jobs",
        )
        for item in items:
            jobs.append(to_job(item, self.name))
            if len(jobs) >= limit:
                break
        return jobs

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        """Events strictly after ``after``, oldest first; ``NotFoundError`` if the job has no
        event ``after`` (taking it as "from the start" would deliver the history twice).

        The API lists newest first and pages towards older events, so only the newest pages
        are read, until the cursor shows up: one request per poll in the usual case.
        """
        newest_first: list[Event] = []
        items = paged(
            lambda page_after: self._call(
                lambda c: c.fine_tuning.jobs.list_events(
                    job_id, limit=PAGE_SIZE, after=cursor(page_after)
                )
            ),
            what=f"{self.name} events of {job_id}",
        )
        for item in items:
            if after is not None and item.id == after:
                return newest_first[::-1]
            newest_first.append(to_event(item))
        if after is not None:
            raise NotFoundError(
                f"job {job_id} has no event {after}",
                hint="list the events without a cursor to start from the beginning",
                provider=self.name,
            )
        return newest_first[::-1]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        items = paged(
            lambda after: self._call(
                lambda c: c.fine_tuning.jobs.checkpoints.list(
                    job_id, limit=PAGE_SIZE, after=cursor(after)
                )
            ),
            what=f"{self.name} checkpoints of {job_id}",
        )
        checkpoints = [to_checkpoint(cp) for cp in items]
        return sorted(checkpoints, key=lambda cp: (cp.step, cp.created_at))

    def cancel_job(self, job_id: str) -> Job:
        return self._transition(job_id, "cancel", done={JobStatus.CANCELLED.value})

    def pause_job(self, job_id: str) -> Job:
        return self._transition(job_id, "pause", done={JobStatus.PAUSED.value})

    def resume_job(self, job_id: str) -> Job:
        return self._transition(job_id, "resume", done=None)

    def _transition(self, job_id: str, action: str, *, done: set[str] | None) -> Job:
        """cancel / pause / resume. A retry after a lost response that finds the action
        already done returns the job; a refusal because of the job's state is a
        ConflictError naming that state."""
        maybe_done = False

        def allowed(status: str) -> bool:
            if action == "resume":
                return status == JobStatus.PAUSED.value
            return not is_terminal(status) and not (action == "pause" and status == "paused")

        def attempt() -> Job:
            nonlocal maybe_done
            try:
                return self._once(
                    lambda c: to_job(getattr(c.fine_tuning.jobs, action)(job_id), self.name)
                )
            except TransientError as exc:
                maybe_done = maybe_done or may_have_committed(exc)
                raise
            except (ConflictError, InvalidRequestError) as exc:
                current = self.get_job(job_id)
                status = str(current.status)
                if maybe_done and (status in done if done else status != "paused"):
                    return current
                if allowed(status):
                    raise
                raise ConflictError(
                    f"cannot {action} job {job_id}: it {status_phrase(status)}",
                    hint=exc.message,
                    provider=self.name,
                ) from exc

        return retry_transient(attempt, attempts=self.attempts, on_retry=self._log)

    # -- data ----------------------------------------------------------------------------
    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        """OpenAI's rules (see ``anytune_openai.rules``); works offline, without a key."""
        return rules.dataset_rules(self.name, model, method, priced=self.priced)

    def close(self) -> None:
        with self._lock:
            if self._sdk is not None:
                self._sdk.close()
                self._sdk = None
