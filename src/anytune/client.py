"""``Client``: the application-facing API, shaped like the OpenAI SDK (``AsyncClient``, its
``async`` mirror, is in ``anytune.async_client``).

>>> from anytune import Client
>>> client = Client("local")                                      # doctest: +SKIP
>>> f = client.files.create("train.jsonl")                        # doctest: +SKIP
>>> job = client.jobs.create(model="./tiny", training_file=f.id)  # doctest: +SKIP
>>> job = client.jobs.wait(job.id, on_event=print)                # doctest: +SKIP
>>> job.fine_tuned_model                                          # doctest: +SKIP
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from anytune import registry
from anytune.errors import InvalidArgumentError, JobError, NotFoundError
from anytune.follow import End, Follower, Sleep
from anytune.index import JobIndex
from anytune.polling import EventCallback, EventCursor, OutageCallback, StatusCallback, wait
from anytune.provider import ProgressCallback, Provider
from anytune.types import Checkpoint, Event, FileObject, Hyperparameters, Job, JobSpec, Method

if TYPE_CHECKING:
    from anytune.evaluation import EvalReport

# Aliases: the namespaces below have a method called `list`, which shadows the builtin there.
JobList = list[Job]
EventList = list[Event]
CheckpointList = list[Checkpoint]
FileList = list[FileObject]


class Client:
    """A provider behind the provider-agnostic API.

    ``Client("openai", api_key=...)``, ``Client("local", home=...)`` or ``Client(provider)``
    with a ``Provider`` instance. Jobs created through a client are recorded in the local job
    index (``index=False`` turns that off), and every later read, wait, cancel, pause or
    resume through it keeps the recorded status current.
    """

    def __init__(
        self,
        provider: str | Provider,
        *,
        index: JobIndex | bool = True,
        **provider_options: Any,
    ):
        if isinstance(provider, Provider):
            if provider_options:
                raise InvalidArgumentError(
                    f"provider options ({', '.join(sorted(provider_options))}) go to the "
                    "provider's constructor, not to Client(provider_instance, ...)",
                    hint=f"Client({provider.name!r}, {next(iter(provider_options))}=...) "
                    "creates the provider with them",
                )
            self.provider = provider
            self._connection: dict[str, Any] = {}
        else:
            self.provider = registry.create(provider, **provider_options)
            # Never a secret, even one a provider lists as a connection option by mistake.
            names = set(getattr(self.provider, "connection_options", ())) - set(
                getattr(self.provider, "secret_connection_options", ())
            )
            # Also what the provider took from its environment (e.g. OPENAI_BASE_URL), so a
            # recorded job is reached at the same backend from a shell without that variable.
            found = {k: getattr(self.provider, k, None) for k in sorted(names)}
            self._connection = {k: v for k, v in found.items() if v is not None}
            self._connection.update((k, v) for k, v in provider_options.items() if k in names)
        _remember_secrets(self.provider)
        if index is True:
            self._index: JobIndex | None = JobIndex()
        else:
            self._index = index or None
        self.files = Files(self)
        self.jobs = Jobs(self)
        self.models = Models(self)

    @classmethod
    def for_job(cls, job_id: str, *, index: JobIndex | None = None) -> Client:
        """A client for the provider that created ``job_id`` (from the local job index)."""
        idx = index or JobIndex()
        name, connection = _indexed_provider(job_id, idx)
        return cls(name, index=idx, **connection)

    @property
    def provider_name(self) -> str:
        return self.provider.name

    def close(self) -> None:
        self.provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _indexed_provider(job_id: str, index: JobIndex) -> tuple[str, dict[str, Any]]:
    found = index.lookup(job_id)
    if not found:
        raise NotFoundError(
            f"job {job_id} is not in anytune's local index ({index.path})",
            hint="pass --provider NAME (or Client(NAME)) for jobs created elsewhere",
        )
    entry = found[0]
    return entry.provider, dict(entry.connection)


class Files:
    def __init__(self, client: Client):
        self._client = client

    def create(
        self,
        file: str | Path,
        *,
        purpose: str = "fine-tune",
        progress: ProgressCallback | None = None,
    ) -> FileObject:
        """Upload a local file and return it."""
        path = Path(file)
        if not path.is_file():
            raise NotFoundError(f"{path}: no such file")
        uploaded = self._client.provider.upload_file(path, purpose=purpose, progress=progress)
        if self._client._index is not None:  # where it came from, for `anytune rerun`
            self._client._index.record_file(uploaded.provider, uploaded.id, path, uploaded.sha256)
        return uploaded

    def retrieve(self, file_id: str) -> FileObject:
        return self._client.provider.get_file(file_id)

    def list(self, *, purpose: str | None = None, limit: int = 100) -> FileList:
        """Uploaded files, newest first (``UnsupportedOperationError`` where not offered)."""
        return self._client.provider.list_files(purpose=purpose, limit=limit)

    def delete(self, file_id: str) -> None:
        """Delete an uploaded file (``NotFoundError`` if there is none by that id)."""
        self._client.provider.delete_file(file_id)


class Models:
    """What is done with a fine-tuned model once trained."""

    def __init__(self, client: Client):
        self._client = client

    def evaluate(self, model_or_job: str, file: str | Path, **options: Any) -> EvalReport:
        """Score ``model_or_job`` on the chat examples of ``file`` (see
        ``anytune.evaluation.evaluate`` for ``baseline``, ``max_new_tokens``, ...)."""
        from anytune.evaluation import evaluate

        return evaluate(self._client.provider, model_or_job, file, **options)


def build_spec(
    *,
    model: str,
    training_file: str,
    validation_file: str | None = None,
    method: Method = "supervised",
    hyperparameters: Hyperparameters | Mapping[str, Any] | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    metadata: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    integrations: Sequence[Mapping[str, Any]] = (),
) -> JobSpec:
    """The ``JobSpec`` for ``Jobs.create``'s arguments (mistakes: ``InvalidArgumentError``)."""
    if not isinstance(hyperparameters, Hyperparameters):
        hyperparameters = Hyperparameters.from_dict(hyperparameters)
    return JobSpec(
        model=model,
        training_file=training_file,
        validation_file=validation_file,
        method=method,
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=seed,
        metadata=dict(metadata or {}),
        options=dict(options or {}),
        integrations=tuple(integrations),
    )


class Jobs:
    def __init__(self, client: Client):
        self._client = client

    @property
    def _provider(self) -> Provider:
        return self._client.provider

    def _record_status(self, job: Job) -> Job:
        if self._client._index is not None:
            self._client._index.update_status(job.id, self._provider.name, str(job.status))
        return job

    def create(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        method: Method = "supervised",
        hyperparameters: Hyperparameters | Mapping[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        integrations: Sequence[Mapping[str, Any]] = (),
    ) -> Job:
        """Create a job from uploaded file ids. ``options`` are provider-specific settings.

        ``method`` is any method the provider declares; every mistake is an
        ``InvalidArgumentError`` naming the valid choices, raised before anything is sent.
        """
        spec = build_spec(
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            method=method,
            hyperparameters=hyperparameters,
            suffix=suffix,
            seed=seed,
            metadata=metadata,
            options=options,
            integrations=integrations,
        )
        return self.create_from_spec(spec)

    def create_from_spec(self, spec: JobSpec, *, parent: str | None = None) -> Job:
        """Create a job; the provider validates ``spec`` once (``Provider.create_job``).

        The index keeps the spec (``anytune rerun``) and ``parent``, the job this one re-runs.
        """
        job = self._provider.create_job(spec)
        if self._client._index is not None:
            self._client._index.record(
                job.id,
                self._provider.name,
                connection=self._client._connection,
                model=job.model,
                training_file=job.training_file,
                status=str(job.status),
                spec=JobSpec.to_dict(spec),
                parent=parent,
            )
        return job

    def retrieve(self, job_id: str) -> Job:
        return self._record_status(self._provider.get_job(job_id))

    def list(self, *, limit: int = 20) -> JobList:
        return self._provider.list_jobs(limit=limit)

    @overload
    def events(
        self, job_id: str, *, after: str | None = ..., follow: Literal[False] = ...
    ) -> EventList: ...
    @overload
    def events(
        self,
        job_id: str,
        *,
        after: str | None = ...,
        follow: Literal[True],
        interval: float | None = ...,
    ) -> Iterator[Event]: ...
    def events(
        self,
        job_id: str,
        *,
        after: str | None = None,
        follow: bool = False,
        interval: float | None = None,
    ) -> EventList | Iterator[Event]:
        """Events oldest first (strictly after the event id ``after``).

        With ``follow=True``, an iterator that keeps yielding new events until the job ends
        (polling every ``interval`` seconds, by default the provider's); polling stops as
        soon as the iterator is closed or dropped.
        """
        if not follow:
            return self._provider.list_events(job_id, after=after)
        return self._follow(job_id, after, self._interval(interval))

    def _follow(self, job_id: str, after: str | None, interval: float) -> Iterator[Event]:
        pending: queue.SimpleQueue[Event | End] = queue.SimpleQueue()
        follower = Follower(
            self._provider,
            job_id,
            after=after,
            interval=interval,
            deliver=pending.put,
            finished=lambda error: pending.put(End(error)),
        )
        try:
            while not isinstance(item := pending.get(), End):
                yield item
        finally:
            follower.stop()
        if item.error is not None:
            raise item.error

    def checkpoints(self, job_id: str) -> CheckpointList:
        return self._provider.list_checkpoints(job_id)

    def cancel(self, job_id: str) -> Job:
        return self._record_status(self._provider.cancel_job(job_id))

    def pause(self, job_id: str) -> Job:
        return self._record_status(self._provider.pause_job(job_id))

    def resume(self, job_id: str) -> Job:
        return self._record_status(self._provider.resume_job(job_id))

    def _interval(self, interval: float | None) -> float:
        return self._provider.default_poll_interval if interval is None else interval

    def wait(
        self,
        job_id: str,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        raise_on_failure: bool = True,
        on_outage: OutageCallback | None = None,
        max_outage: float | None = None,
    ) -> Job:
        """Poll until the job ends; see ``anytune.polling.wait``.

        ``interval`` defaults to the provider's ``default_poll_interval``. The job index gets
        the final status however the job ended (succeeded, failed or cancelled).
        """
        return self._wait(
            job_id,
            interval=interval,
            timeout=timeout,
            on_event=on_event,
            on_status=on_status,
            raise_on_failure=raise_on_failure,
            on_outage=on_outage,
            max_outage=max_outage,
        )

    def _wait(
        self,
        job_id: str,
        *,
        interval: float | None,
        timeout: float | None,
        on_event: EventCallback | None,
        on_status: StatusCallback | None,
        raise_on_failure: bool,
        sleep: Sleep | None = None,
        on_outage: OutageCallback | None = None,
        max_outage: float | None = None,
    ) -> Job:
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        extra.update(on_outage=on_outage, max_outage=max_outage)
        try:
            job = wait(
                self._provider,
                job_id,
                interval=self._interval(interval),
                timeout=timeout,
                on_event=on_event,
                on_status=on_status,
                raise_on_failure=raise_on_failure,
                **extra,
            )
        except JobError as exc:
            self._record_status(exc.job)
            raise
        return self._record_status(job)

    def cursor(self, job_id: str, *, after: str | None = None) -> EventCursor:
        """An incremental event reader: each ``fetch()`` returns only new events."""
        return EventCursor(self._provider, job_id, after=after)


def __getattr__(name: str) -> Any:
    # AsyncClient lived here; it moved to anytune.async_client (imported on first use).
    if name in {"AsyncClient", "AsyncFiles", "AsyncJobs"}:
        from anytune import async_client

        return getattr(async_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _remember_secrets(provider: Provider) -> None:
    """Tell ``anytune.secrets`` the provider's secret values, so that nothing this process
    prints (the CLI scrubs its output with ``scrub_known``) shows them."""
    from anytune import secrets

    values = getattr(provider, "secret_values", None)
    if callable(values):
        minimum = int(getattr(provider, "secret_min_length", secrets.MIN_LENGTH))
        secrets.remember(values(), minimum=minimum)
