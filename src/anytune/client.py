"""``Client`` and ``AsyncClient``: the application-facing API, shaped like the OpenAI SDK.

>>> from anytune import Client
>>> client = Client("local")                                      # doctest: +SKIP
>>> f = client.files.create("train.jsonl")                        # doctest: +SKIP
>>> job = client.jobs.create(model="./tiny", training_file=f.id)  # doctest: +SKIP
>>> job = client.jobs.wait(job.id, on_event=print)                # doctest: +SKIP
>>> job.fine_tuned_model                                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

from anytune import registry
from anytune.errors import NotFoundError
from anytune.index import JobIndex
from anytune.polling import EventCallback, EventCursor, StatusCallback, wait
from anytune.provider import ProgressCallback, Provider
from anytune.types import Checkpoint, Event, FileObject, Hyperparameters, Job, JobSpec, Method

# Aliases: the namespaces below have a method called `list`, which shadows the builtin there.
JobList = list[Job]
EventList = list[Event]
CheckpointList = list[Checkpoint]


class Client:
    """A provider behind the provider-agnostic API.

    ``Client("openai", api_key=...)``, ``Client("local", home=...)`` or ``Client(provider)``
    with a ``Provider`` instance. Jobs created through a client are recorded in the local job
    index (``index=False`` turns that off).
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
                raise TypeError("provider options go to the provider's constructor, not here")
            self.provider = provider
            self._connection: dict[str, Any] = {}
        else:
            self.provider = registry.create(provider, **provider_options)
            names = set(getattr(self.provider, "connection_options", ()))
            self._connection = {k: v for k, v in provider_options.items() if k in names}
        if index is True:
            self._index: JobIndex | None = JobIndex()
        else:
            self._index = index or None
        self.files = Files(self)
        self.jobs = Jobs(self)

    @classmethod
    def for_job(cls, job_id: str, *, index: JobIndex | None = None) -> Client:
        """A client for the provider that created ``job_id`` (from the local job index)."""
        idx = index or JobIndex()
        found = idx.lookup(job_id)
        if not found:
            raise NotFoundError(
                f"job {job_id} is not in anytune's local index ({idx.path})",
                hint="pass --provider NAME (or Client(NAME)) for jobs created elsewhere",
            )
        entry = found[0]
        return cls(entry.provider, index=idx, **dict(entry.connection))

    @property
    def provider_name(self) -> str:
        return self.provider.name

    def close(self) -> None:
        self.provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        return self._client.provider.upload_file(path, purpose=purpose, progress=progress)

    def retrieve(self, file_id: str) -> FileObject:
        return self._client.provider.get_file(file_id)


class Jobs:
    def __init__(self, client: Client):
        self._client = client

    @property
    def _provider(self) -> Provider:
        return self._client.provider

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
        """Create a job from uploaded file ids. ``options`` are provider-specific settings."""
        if not isinstance(hyperparameters, Hyperparameters):
            hyperparameters = Hyperparameters.from_dict(hyperparameters)
        spec = JobSpec(
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
        return self.create_from_spec(spec)

    def create_from_spec(self, spec: JobSpec) -> Job:
        spec = self._provider.validate_spec(spec)
        job = self._provider.create_job(spec)
        if self._client._index is not None:
            self._client._index.record(
                job.id,
                self._provider.name,
                connection=self._client._connection,
                model=job.model,
                training_file=job.training_file,
                status=str(job.status),
            )
        return job

    def retrieve(self, job_id: str) -> Job:
        job = self._provider.get_job(job_id)
        if self._client._index is not None:
            self._client._index.update_status(job_id, self._provider.name, str(job.status))
        return job

    def list(self, *, limit: int = 20) -> JobList:
        return self._provider.list_jobs(limit=limit)

    @overload
    def events(
        self, job_id: str, *, after: str | None = ..., follow: Literal[False] = ...
    ) -> EventList: ...
    @overload
    def events(
        self, job_id: str, *, after: str | None = ..., follow: Literal[True], interval: float = ...
    ) -> Iterator[Event]: ...
    def events(
        self, job_id: str, *, after: str | None = None, follow: bool = False, interval: float = 5.0
    ) -> EventList | Iterator[Event]:
        """Events oldest first (strictly after the event id ``after``).

        With ``follow=True``, an iterator that keeps yielding new events until the job ends.
        """
        if not follow:
            return self._provider.list_events(job_id, after=after)
        return self._follow(job_id, after, interval)

    def _follow(self, job_id: str, after: str | None, interval: float) -> Iterator[Event]:
        import queue

        pending: queue.SimpleQueue[Event] = queue.SimpleQueue()
        done = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            try:
                wait(
                    self._provider,
                    job_id,
                    interval=interval,
                    on_event=pending.put,
                    events_after=after,
                    raise_on_failure=False,
                )
            except BaseException as exc:  # handed to the consumer below
                error.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        while not (done.is_set() and pending.empty()):
            try:
                yield pending.get(timeout=0.1)
            except queue.Empty:
                continue
        if error:
            raise error[0]

    def checkpoints(self, job_id: str) -> CheckpointList:
        return self._provider.list_checkpoints(job_id)

    def cancel(self, job_id: str) -> Job:
        return self._provider.cancel_job(job_id)

    def pause(self, job_id: str) -> Job:
        return self._provider.pause_job(job_id)

    def resume(self, job_id: str) -> Job:
        return self._provider.resume_job(job_id)

    def wait(
        self,
        job_id: str,
        *,
        interval: float = 5.0,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        raise_on_failure: bool = True,
    ) -> Job:
        """Poll until the job ends; see ``anytune.polling.wait``."""
        job = wait(
            self._provider,
            job_id,
            interval=interval,
            timeout=timeout,
            on_event=on_event,
            on_status=on_status,
            raise_on_failure=raise_on_failure,
        )
        if self._client._index is not None:
            self._client._index.update_status(job_id, self._provider.name, str(job.status))
        return job

    def cursor(self, job_id: str, *, after: str | None = None) -> EventCursor:
        """An incremental event reader: each ``fetch()`` returns only new events."""
        return EventCursor(self._provider, job_id, after=after)


class _WaitAborted(Exception):
    pass


class AsyncClient:
    """The same API as ``Client`` with ``async`` methods (provider calls run in a thread).

    >>> async with AsyncClient("openai") as client:             # doctest: +SKIP
    ...     job = await client.jobs.wait("ftjob-abc")
    """

    def __init__(self, provider: str | Provider, *, index: JobIndex | bool = True, **options: Any):
        self._sync = Client(provider, index=index, **options)
        self.files = AsyncFiles(self._sync.files)
        self.jobs = AsyncJobs(self._sync.jobs)

    @property
    def provider(self) -> Provider:
        return self._sync.provider

    async def close(self) -> None:
        await asyncio.to_thread(self._sync.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncFiles:
    def __init__(self, files: Files):
        self._files = files

    async def create(
        self,
        file: str | Path,
        *,
        purpose: str = "fine-tune",
        progress: ProgressCallback | None = None,
    ) -> FileObject:
        return await asyncio.to_thread(self._files.create, file, purpose=purpose, progress=progress)

    async def retrieve(self, file_id: str) -> FileObject:
        return await asyncio.to_thread(self._files.retrieve, file_id)


class AsyncJobs:
    def __init__(self, jobs: Jobs):
        self._jobs = jobs

    async def create(self, **kwargs: Any) -> Job:
        return await asyncio.to_thread(lambda: self._jobs.create(**kwargs))

    async def retrieve(self, job_id: str) -> Job:
        return await asyncio.to_thread(self._jobs.retrieve, job_id)

    async def list(self, *, limit: int = 20) -> JobList:
        return await asyncio.to_thread(self._jobs.list, limit=limit)

    async def events(self, job_id: str, *, after: str | None = None) -> EventList:
        return await asyncio.to_thread(self._jobs.events, job_id, after=after)

    async def checkpoints(self, job_id: str) -> CheckpointList:
        return await asyncio.to_thread(self._jobs.checkpoints, job_id)

    async def cancel(self, job_id: str) -> Job:
        return await asyncio.to_thread(self._jobs.cancel, job_id)

    async def pause(self, job_id: str) -> Job:
        return await asyncio.to_thread(self._jobs.pause, job_id)

    async def resume(self, job_id: str) -> Job:
        return await asyncio.to_thread(self._jobs.resume, job_id)

    async def wait(
        self,
        job_id: str,
        *,
        interval: float = 5.0,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        raise_on_failure: bool = True,
    ) -> Job:
        """Like ``Client.jobs.wait``; cancelling the awaiting task stops the polling thread."""
        stop = threading.Event()

        def interruptible_sleep(seconds: float) -> None:
            if stop.wait(seconds):
                raise _WaitAborted

        def run() -> Job:
            return wait(
                self._jobs._provider,
                job_id,
                interval=interval,
                timeout=timeout,
                on_event=on_event,
                on_status=on_status,
                raise_on_failure=raise_on_failure,
                sleep=interruptible_sleep,
            )

        try:
            return await asyncio.to_thread(run)
        except asyncio.CancelledError:
            stop.set()
            raise
