"""``FireworksProvider``: anytune's provider contract over the official ``fireworks-ai`` SDK.

>>> from anytune import Client
>>> client = Client("fireworks")   # FIREWORKS_API_KEY and FIREWORKS_ACCOUNT_ID as usual
>>> f = client.files.create("train.jsonl")                                  # doctest: +SKIP
>>> job = client.jobs.create(model="llama-v3p1-8b-instruct", training_file=f.id)  # doctest: +SKIP

Constructing a provider is cheap: it reads settings but imports nothing and needs no key.
Exactly once comes from Fireworks itself: anytune chooses every job's and dataset's id, so a
create sent again after a lost answer is refused 409 ALREADY_EXISTS and the existing job is
returned instead of a second one being started.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping
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
from anytune.provider import (
    Capabilities,
    DatasetRules,
    OptionSpec,
    ProgressCallback,
    Provider,
    ValidatedSpec,
)
from anytune.retry import DEFAULT_ATTEMPTS, retry_transient
from anytune.spec import HyperparameterLimits, Limit
from anytune.types import Checkpoint, Event, FileObject, Job, JobStatus, is_terminal
from anytune_fireworks import _files, _shapes, _spec, catalog, rules
from anytune_fireworks._convert import (
    DPO_PREFIX,
    after_index,
    dpo_arguments,
    sft_arguments,
    sort_key,
    to_events,
    to_job,
)
from anytune_fireworks._errors import boundary, translated

if TYPE_CHECKING:
    from fireworks import Fireworks

T = TypeVar("T")
log = logging.getLogger("anytune.fireworks")

DEFAULT_BASE_URL = "https://api.fireworks.ai"
PAGE_SIZE = 200


def _number(name: str, value: Any, kind: type) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"setting {name}={value!r} is not a {kind.__name__}") from None


class FireworksProvider(Provider):
    """Fine-tuning on Fireworks AI through the official SDK.

    Settings (arguments win over the environment): ``api_key`` (FIREWORKS_API_KEY),
    ``account_id`` (FIREWORKS_ACCOUNT_ID; never shown or stored), ``base_url``
    (FIREWORKS_BASE_URL), ``timeout``, ``max_retries`` (default 5), ``single_request_limit``
    (bytes; larger files go through a signed upload URL; default 150 MB).
    """

    name: ClassVar[str] = "fireworks"
    key_env: ClassVar[str] = "FIREWORKS_API_KEY"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pause_resume=False, checkpoints=False, methods=rules.METHODS, file_management=True
    )
    hyperparameter_limits: ClassVar[HyperparameterLimits] = HyperparameterLimits(
        n_epochs=Limit(1, catalog.MAX_EPOCHS),
        batch_size=Limit(1, catalog.MAX_BATCH_SIZE),
        learning_rate_multiplier=Limit(0, None, exclusive_min=True),
        beta=Limit(0, None, exclusive_min=True),
    )
    option_specs: ClassVar[Mapping[str, OptionSpec]] = _spec.OPTIONS
    connection_options: ClassVar[tuple[str, ...]] = ("base_url",)
    secret_connection_options: ClassVar[tuple[str, ...]] = ("api_key", "account_id")
    secret_min_length: ClassVar[int] = 3
    default_poll_interval: ClassVar[float] = 10.0

    def __init__(
        self,
        api_key: str | None = None,
        account_id: str | None = None,
        base_url: str | None = None,
        timeout: float | str | None = None,
        max_retries: int | str | None = None,
        *,
        single_request_limit: int | str | None = None,
    ):
        self._api_key = api_key or os.environ.get(self.key_env) or None
        self._account_id = account_id or os.environ.get("FIREWORKS_ACCOUNT_ID") or None
        self.base_url = (
            base_url or os.environ.get("FIREWORKS_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.timeout: float | None = _number("timeout", timeout, float)
        retries = _number("max_retries", max_retries, int)
        self.attempts = 1 + (DEFAULT_ATTEMPTS - 1 if retries is None else max(0, retries))
        limit = _number("single_request_limit", single_request_limit, int)
        self.single_request_limit: int = _files.SINGLE_REQUEST_LIMIT if limit is None else limit
        self._sdk: Fireworks | None = None
        self._lock = threading.Lock()
        self._contexts: dict[str, _shapes.Context] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------
    @property
    def _errors(self) -> http_errors.Boundary:
        return boundary(self.name, self.key_env, self.secret_values(), self.timeout)

    @property
    def account(self) -> str:
        if not self._account_id:
            raise ConfigurationError(
                f"no account id for {self.name}",
                hint="set FIREWORKS_ACCOUNT_ID (the account in https://app.fireworks.ai, or "
                "`firectl whoami`), or pass -P account_id=...",
                provider=self.name,
            )
        return self._account_id

    def _client(self) -> Fireworks:
        with self._lock:
            if self._sdk is None:
                if not self._api_key:
                    raise AuthenticationError(
                        f"no API key for {self.name}",
                        hint=f"set the {self.key_env} environment variable "
                        "(keys: https://app.fireworks.ai/settings/users/api-keys)",
                        provider=self.name,
                    )
                account = self.account
                with translated(self._errors):
                    import fireworks

                    self._sdk = fireworks.Fireworks(
                        api_key=self._api_key,
                        account_id=account,
                        base_url=self.base_url,
                        timeout=self.timeout if self.timeout is not None else fireworks.NOT_GIVEN,
                        max_retries=0,  # anytune retries itself
                    )
            return self._sdk

    def _once(self, fn: Callable[[Fireworks], T]) -> T:
        client = self._client()
        with translated(self._errors):
            return fn(client)

    def _call(self, fn: Callable[[Fireworks], T]) -> T:
        return retry_transient(lambda: self._once(fn), attempts=self.attempts, on_retry=self._log)

    def _log(self, exc: TransientError, delay: float) -> None:
        log.info("%s: %s; retrying in %.1f s", self.name, exc.message, delay)

    # -- files ---------------------------------------------------------------------------
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        """Upload ``path`` as a dataset named after its content (the same content is stored
        once: a second upload returns the first dataset)."""
        return _files.upload(self, Path(path), purpose, progress)

    def get_file(self, file_id: str) -> FileObject:
        return _files.get(self, file_id)

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        return _files.listing(self, purpose, limit)

    def delete_file(self, file_id: str) -> None:
        _files.delete(self, file_id)

    # -- jobs ----------------------------------------------------------------------------
    def check_spec(self, spec: ValidatedSpec) -> None:
        context = self.training_context(spec.model) if spec.options.get_int("max_length") else None
        _spec.check_spec(spec, self.name, context.tokens if context else None)

    def submit_job(self, spec: ValidatedSpec) -> Job:
        """Create the job under an id anytune chooses: sent again after a lost answer, the
        create is refused 409 and the job it created the first time is returned."""
        dpo = spec.method == "dpo"
        job_id = f"{DPO_PREFIX if dpo else 'sft-'}{uuid.uuid4().hex[:24]}"
        account = self.account
        sent = False

        def attempt() -> Job:
            nonlocal sent
            try:
                if dpo:
                    arguments = dpo_arguments(spec, account, job_id)
                    return self._once(lambda c: to_job(c.dpo_jobs.create(**arguments), self.name))
                arguments = sft_arguments(spec, account, job_id)
                return self._once(
                    lambda c: to_job(c.supervised_fine_tuning_jobs.create(**arguments), self.name)
                )
            except ConflictError:
                if not sent:
                    raise
                log.info("%s: the create already took effect as %s", self.name, job_id)
                return self.get_job(job_id)
            finally:
                sent = True

        return retry_transient(attempt, attempts=self.attempts, on_retry=self._log)

    def _raw(self, job_id: str) -> Any:
        if job_id.startswith(DPO_PREFIX):
            return self._call(lambda c: c.dpo_jobs.get(job_id))
        return self._call(lambda c: c.supervised_fine_tuning_jobs.get(job_id))

    def get_job(self, job_id: str) -> Job:
        return to_job(self._raw(job_id), self.name)

    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        """SFT and DPO jobs together, most recent first (two listings, each newest first)."""
        if limit <= 0:
            return []
        size = min(limit, PAGE_SIZE)

        def fetch(client: Fireworks) -> list[Any]:
            found: list[Any] = []
            for listing in (client.supervised_fine_tuning_jobs, client.dpo_jobs):
                for item in listing.list(page_size=size, order_by="create_time desc"):
                    found.append(item)
                    if len(found) >= 2 * limit:
                        break
            return found

        items = self._call(fetch)
        items.sort(
            key=lambda j: (sort_key(getattr(j, "create_time", None)), j.name or ""), reverse=True
        )
        return [to_job(item, self.name) for item in items[:limit]]

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        """The job's history, derived from its state and progress (Fireworks keeps no event
        log: see ``_convert.to_events``); strictly after ``after``, oldest first."""
        events = to_events(self._raw(job_id))
        if after is None:
            return events
        index = after_index(events, job_id, after)
        if index is None:
            raise NotFoundError(
                f"job {job_id} has no event {after}",
                hint="list the events without a cursor to start from the beginning",
                provider=self.name,
            )
        return events[index:]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Fireworks lists no checkpoints of a fine-tuning job (only its final model)."""
        self._raw(job_id)  # NotFoundError for an unknown job
        return []

    def cancel_job(self, job_id: str) -> Job:
        def send(client: Fireworks) -> Any:
            if job_id.startswith(DPO_PREFIX):
                return client.dpo_jobs.cancel(job_id, body={})
            return client.supervised_fine_tuning_jobs.cancel(job_id, body={})

        maybe_done = False

        def attempt() -> Job:
            nonlocal maybe_done
            try:
                self._once(send)
            except TransientError:
                maybe_done = True  # the cancel may have taken effect without an answer
                raise
            except (ConflictError, InvalidRequestError) as exc:
                current = self.get_job(job_id)
                if maybe_done and current.status == JobStatus.CANCELLED:
                    return current  # a retry after a cancel whose answer was lost
                if not is_terminal(current.status):
                    raise
                raise ConflictError(
                    f"cannot cancel job {job_id}: it is {current.status}",
                    hint=exc.message,
                    provider=self.name,
                ) from exc
            return self.get_job(job_id)

        return retry_transient(attempt, attempts=self.attempts, on_retry=self._log)

    # -- the trained model ---------------------------------------------------------------
    def download(self, job_id: str, directory: Path) -> Path:
        """``Provider.download`` (``anytune download JOB DIR -p fireworks``): a succeeded job's
        fine-tuned model (a LoRA adapter: Fireworks trains LoRA only) into
        ``directory/MODEL``; returns that directory."""
        return _files.download(self, job_id, Path(directory))

    # -- data ----------------------------------------------------------------------------
    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        explicit = (options or {}).get("max_length")
        context = self.training_context(model) if model and not explicit else None
        return rules.dataset_rules(model, method, options, context)

    def training_context(self, model: str) -> _shapes.Context:
        """The model's largest training context: from Fireworks' training-shape registry when
        a key is set (read once per model and provider), else the published figure."""
        name = catalog.full_name(model)
        with self._lock:
            known = self._contexts.get(name)
        if known is None:
            known = _shapes.lookup(self, model, self._api_key)
            with self._lock:
                self._contexts[name] = known
        return known

    def close(self) -> None:
        with self._lock:
            if self._sdk is not None:
                self._sdk.close()
                self._sdk = None
