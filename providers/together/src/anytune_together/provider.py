"""``TogetherProvider``: anytune's provider contract over the official ``together`` SDK.

>>> from anytune import Client
>>> client = Client("together")            # TOGETHER_API_KEY, TOGETHER_BASE_URL as usual
>>> f = client.files.create("train.jsonl")                                   # doctest: +SKIP
>>> job = client.jobs.create(model="Qwen/Qwen3-8B", training_file=f.id)      # doctest: +SKIP

Constructing a provider is cheap: it reads settings but neither imports ``together`` nor
needs a key. The SDK's own retries are off; anytune's retry policy is used instead so that a
create is reconciled before it is ever sent twice (``submit_job``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from anytune import http_errors
from anytune.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from anytune.exactly_once import DEFAULT_WINDOW, CreateOnce
from anytune.provider import (
    Capabilities,
    DatasetRules,
    OptionSpec,
    Problem,
    ProgressCallback,
    Provider,
    ValidatedSpec,
)
from anytune.retry import DEFAULT_ATTEMPTS, may_have_committed, retry_transient
from anytune.spec import HyperparameterLimits, Limit
from anytune.types import Checkpoint, Event, FileObject, Job, JobStatus, is_terminal
from anytune_together import _files, _spec, catalog, rules
from anytune_together._convert import (
    create_arguments,
    fingerprint,
    sort_key,
    to_checkpoint,
    to_events,
    to_job,
)
from anytune_together._errors import boundary, translated

if TYPE_CHECKING:
    from together import Together

T = TypeVar("T")
log = logging.getLogger("anytune.together")

DEFAULT_BASE_URL = "https://api.together.ai"


def _number(name: str, value: Any, kind: type) -> Any:
    """Constructor settings arrive as strings from ``-P key=value``."""
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"setting {name}={value!r} is not a {kind.__name__}") from None


class TogetherProvider(Provider):
    """Fine-tuning on Together AI through the official SDK.

    Settings (arguments win over the environment): ``api_key`` (TOGETHER_API_KEY),
    ``base_url`` (TOGETHER_BASE_URL, the host without ``/v1``), ``project_id``
    (TOGETHER_PROJECT_ID), ``timeout`` (seconds per request), ``max_retries`` (default 5),
    ``reconcile_seconds`` (how long a create whose answer was lost is looked for; default 10).
    """

    name: ClassVar[str] = "together"
    key_env: ClassVar[str] = "TOGETHER_API_KEY"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pause_resume=False, checkpoints=True, methods=rules.METHODS, file_management=True
    )
    hyperparameter_limits: ClassVar[HyperparameterLimits] = HyperparameterLimits(
        n_epochs=Limit(1, catalog.MAX_EPOCHS),
        batch_size=Limit(1, catalog.MAX_BATCH_SIZE),
        learning_rate_multiplier=Limit(0, None, exclusive_min=True),
        beta=Limit(0, None, exclusive_min=True),
    )
    option_specs: ClassVar[Mapping[str, OptionSpec]] = _spec.OPTIONS
    connection_options: ClassVar[tuple[str, ...]] = ("base_url", "project_id")
    secret_connection_options: ClassVar[tuple[str, ...]] = ("api_key",)
    default_poll_interval: ClassVar[float] = 10.0

    def hyperparameter_limits_for(self, model: str | None) -> HyperparameterLimits:
        """A model in the catalog has Together's published batch sizes for it."""
        info = catalog.lookup(model) if model else None
        if info is None:
            return self.hyperparameter_limits
        return replace(self.hyperparameter_limits, batch_size=Limit(info.min_batch, info.max_batch))

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        project_id: str | None = None,
        timeout: float | str | None = None,
        max_retries: int | str | None = None,
        *,
        reconcile_seconds: float | str | None = None,
    ):
        self._api_key = api_key or os.environ.get(self.key_env) or None
        self.base_url = (
            base_url or os.environ.get("TOGETHER_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.project_id = project_id or os.environ.get("TOGETHER_PROJECT_ID") or None
        self.timeout: float | None = _number("timeout", timeout, float)
        retries = _number("max_retries", max_retries, int)
        self.attempts = 1 + (DEFAULT_ATTEMPTS - 1 if retries is None else max(0, retries))
        window = _number("reconcile_seconds", reconcile_seconds, float)
        self.reconcile_seconds: float = DEFAULT_WINDOW if window is None else max(0.0, window)
        self._sdk: Together | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------
    @property
    def _errors(self) -> http_errors.Boundary:
        return boundary(self.name, self.key_env, self.secret_values(), self.timeout)

    def _client(self) -> Together:
        with self._lock:
            if self._sdk is None:
                if not self._api_key:
                    raise AuthenticationError(
                        f"no API key for {self.name}",
                        hint=f"set the {self.key_env} environment variable (keys: "
                        "https://api.together.ai/settings/api-keys)",
                        provider=self.name,
                    )
                with translated(self._errors):
                    import together

                    self._sdk = together.Together(
                        api_key=self._api_key,
                        base_url=self.base_url,
                        project_id=self.project_id,
                        timeout=self.timeout if self.timeout is not None else together.NOT_GIVEN,
                        max_retries=0,  # anytune retries (and reconciles creates) itself
                    )
            return self._sdk

    def _once(self, fn: Callable[[Together], T]) -> T:
        client = self._client()
        with translated(self._errors):
            return fn(client)

    def _call(self, fn: Callable[[Together], T]) -> T:
        return retry_transient(lambda: self._once(fn), attempts=self.attempts, on_retry=self._log)

    def _log(self, exc: TransientError, delay: float) -> None:
        log.info("%s: %s; retrying in %.1f s", self.name, exc.message, delay)

    # -- files ---------------------------------------------------------------------------
    def check_dataset(self, path: Path, *, method: str = "supervised") -> list[Problem]:
        """Together's own file check (``together.lib.utils.check_file``, which tells SFT and
        DPO files apart itself) as ``file:line: what`` problems; empty when the file passes.
        Runs offline; ``anytune validate -p together`` and the check before upload call it."""
        return _files.check(Path(path), "fine-tune")

    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        """Run Together's file check, then upload (Together itself recognises content it
        already holds, by checksum, and answers with the existing file)."""
        return _files.upload(self, Path(path), purpose, progress)

    def get_file(self, file_id: str) -> FileObject:
        return _files.get(self, file_id)

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        return _files.listing(self, purpose, limit)

    def delete_file(self, file_id: str) -> None:
        _files.delete(self, file_id)

    # -- jobs ----------------------------------------------------------------------------
    def check_spec(self, spec: ValidatedSpec) -> None:
        """What Together would refuse, refused before anything is uploaded or sent."""
        _spec.check_spec(spec, self.name)

    def submit_job(self, spec: ValidatedSpec) -> Job:
        """Create a job exactly once: the core's protocol (``anytune.exactly_once``), finding
        this request's jobs by what it asked for, since Together's create takes neither an
        idempotency key nor metadata: the model, the files and the suffix
        (``_convert.fingerprint``). The jobs that already matched before the first send are
        not this request's.

        Limit: another process creating an identical job (same model, files and suffix)
        during the reconcile window would be taken for this one; a distinct ``--suffix`` per
        run avoids it."""
        kwargs = create_arguments(spec)
        wanted = fingerprint(
            {
                "model": spec.model,
                "training_file": spec.training_file,
                "validation_file": spec.validation_file,
                "suffix": spec.suffix,
            }
        )

        def send() -> Job:
            job = self._once(lambda c: to_job(c.fine_tuning.create(**kwargs), self.name))
            # The create answer may lack fields the list has (suffix); the spec knows them.
            return job if job.suffix == spec.suffix else _with_suffix(job, spec.suffix)

        def matching() -> list[Job]:
            return [j for j in self._raw_jobs() if fingerprint(j) == wanted]

        # One list request per create buys the ability to recognise a lost create at all
        # (retried like any read: nothing has been sent yet).
        before = {
            j.id for j in retry_transient(matching, attempts=self.attempts, on_retry=self._log)
        }
        return CreateOnce(
            provider=self.name,
            send=send,
            lookup=lambda: [j for j in matching() if j.id not in before],
            cancel=self.cancel_job,
            attempts=self.attempts,
            window=self.reconcile_seconds,
            on_retry=self._log,
            logger=log,
        ).run()

    def _raw_jobs(self) -> list[Job]:
        """Every job, newest first (Together lists them all at once; no pages)."""
        items = self._once(lambda c: list(c.fine_tuning.list().data or []))
        items.sort(key=lambda j: (sort_key(getattr(j, "created_at", None)), j.id), reverse=True)
        return [to_job(j, self.name) for j in items]

    def get_job(self, job_id: str) -> Job:
        return self._call(lambda c: to_job(c.fine_tuning.retrieve(job_id), self.name))

    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        if limit <= 0:
            return []
        return retry_transient(self._raw_jobs, attempts=self.attempts, on_retry=self._log)[:limit]

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        """Events strictly after ``after``, oldest first. Together has no event ids or
        cursor: the whole history comes each time and anytune numbers it (``to_events``)."""
        events = to_events(self._call(lambda c: list(c.fine_tuning.list_events(job_id).data)))
        if after is None:
            return events
        for index, event in enumerate(events):
            if event.id == after:
                return events[index + 1 :]
        raise NotFoundError(
            f"job {job_id} has no event {after}",
            hint="list the events without a cursor to start from the beginning",
            provider=self.name,
        )

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        items = self._call(lambda c: list(c.fine_tuning.list_checkpoints(job_id).data))
        checkpoints = [to_checkpoint(item, job_id) for item in items]
        return sorted(checkpoints, key=lambda cp: (cp.step, cp.created_at))

    def cancel_job(self, job_id: str) -> Job:
        """Ask Together to stop the job (it goes ``cancel_requested``, then ``cancelled``);
        a finished job is a ConflictError naming its status."""
        maybe_done = False

        def attempt() -> Job:
            nonlocal maybe_done
            try:
                return self._once(lambda c: to_job(c.fine_tuning.cancel(job_id), self.name))
            except TransientError as exc:
                maybe_done = maybe_done or may_have_committed(exc)
                raise
            except (ConflictError, InvalidRequestError) as exc:
                current = self.get_job(job_id)
                if maybe_done and current.status in (JobStatus.CANCELLED, JobStatus.RUNNING):
                    return current
                if not is_terminal(current.status):
                    raise
                raise ConflictError(
                    f"cannot cancel job {job_id}: it is {current.status}",
                    hint=exc.message,
                    provider=self.name,
                ) from exc

        return retry_transient(attempt, attempts=self.attempts, on_retry=self._log)

    # -- the trained model ---------------------------------------------------------------
    def download(
        self, job_id: str, directory: Path, *, kind: str = "adapter", step: int | None = None
    ) -> Path:
        """Download the trained model of a succeeded job (``kind`` "adapter" for LoRA jobs,
        "merged" for the merged weights; ``step`` a checkpoint's step) into ``directory`` as
        Together sends it (a ``.tar.zst`` archive); returns the file's path.

        ``Provider.download``: ``anytune download JOB DIR -p together`` gets the default, the
        adapter of the final model; ``kind`` and ``step`` are this provider's extras."""
        return _files.download(self, job_id, Path(directory), kind, step)

    # -- data ----------------------------------------------------------------------------
    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        """Together's rules (see ``anytune_together.rules``); offline, no key needed."""
        return rules.dataset_rules(model, method, options)

    def close(self) -> None:
        with self._lock:
            if self._sdk is not None:
                self._sdk.close()
                self._sdk = None


def _with_suffix(job: Job, suffix: str | None) -> Job:
    from dataclasses import replace

    return replace(job, suffix=suffix)
