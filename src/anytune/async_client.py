"""``AsyncClient``: ``Client`` with ``async`` methods, the same names, arguments and results.

Provider calls run in a worker thread (``asyncio.to_thread``), through the synchronous
``Client``, so both share one implementation: the job index is kept current the same way,
``wait`` uses the provider's poll interval, and cancelling an awaiting task (or closing an
``events(follow=True)`` iterator) stops the polling thread.

>>> async with AsyncClient("openai") as client:             # doctest: +SKIP
...     job = await client.jobs.wait("ftjob-abc")
...     async for event in client.jobs.events(job.id, follow=True):
...         print(event.message)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

from anytune.client import (
    CheckpointList,
    Client,
    EventList,
    FileList,
    Files,
    JobList,
    Jobs,
    _indexed_provider,
    build_spec,
)
from anytune.follow import End, Follower, Stopped, stoppable_sleep
from anytune.index import JobIndex
from anytune.polling import EventCallback, EventCursor, OutageCallback, StatusCallback
from anytune.provider import ProgressCallback, Provider
from anytune.types import Event, FileObject, Hyperparameters, Job, JobSpec, Method


class AsyncClient:
    """The same API as ``Client`` with ``async`` methods (provider calls run in a thread)."""

    def __init__(
        self, provider: str | Provider, *, index: JobIndex | bool = True, **provider_options: Any
    ):
        self._sync = Client(provider, index=index, **provider_options)
        self.files = AsyncFiles(self._sync.files)
        self.jobs = AsyncJobs(self._sync.jobs)

    @classmethod
    def for_job(cls, job_id: str, *, index: JobIndex | None = None) -> AsyncClient:
        """A client for the provider that created ``job_id`` (from the local job index)."""
        idx = index or JobIndex()
        name, connection = _indexed_provider(job_id, idx)
        return cls(name, index=idx, **connection)

    @property
    def provider(self) -> Provider:
        return self._sync.provider

    @property
    def provider_name(self) -> str:
        return self._sync.provider_name

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

    async def list(self, *, purpose: str | None = None, limit: int = 100) -> FileList:
        return await asyncio.to_thread(self._files.list, purpose=purpose, limit=limit)

    async def delete(self, file_id: str) -> None:
        await asyncio.to_thread(self._files.delete, file_id)


class AsyncEventCursor:
    """``EventCursor`` with an ``async`` ``fetch``."""

    def __init__(self, cursor: EventCursor):
        self._cursor = cursor

    @property
    def after(self) -> str | None:
        return self._cursor.after

    async def fetch(self) -> EventList:
        return await asyncio.to_thread(self._cursor.fetch)


class EventStream(AsyncIterator[Event]):
    """``AsyncJobs.events(follow=True)``: new events until the job ends.

    Polling starts at the first ``__anext__`` and stops when the job ends, when the stream
    is closed (``aclose()``, or ``async with contextlib.aclosing(...)``), when the awaiting
    task is cancelled, or when the stream is dropped (no event loop needed for that).
    """

    def __init__(self, provider: Provider, job_id: str, *, after: str | None, interval: float):
        self._provider = provider
        self._job_id = job_id
        self._after = after
        self._interval = interval
        self._queue: asyncio.Queue[Event | End] | None = None
        self._follower: Follower | None = None
        self._done = False

    def __aiter__(self) -> EventStream:
        return self

    def _start(self) -> asyncio.Queue[Event | End]:
        loop = asyncio.get_running_loop()
        pending: asyncio.Queue[Event | End] = asyncio.Queue()

        # The thread holds the queue and the loop, never this object, so dropping the
        # stream lets __del__ stop it.
        def hand_over(item: Event | End) -> None:
            try:
                loop.call_soon_threadsafe(pending.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                raise Stopped from None

        def finished(error: BaseException | None) -> None:
            with contextlib.suppress(Stopped):
                hand_over(End(error))

        self._follower = Follower(
            self._provider,
            self._job_id,
            after=self._after,
            interval=self._interval,
            deliver=hand_over,
            finished=finished,
        )
        return pending

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        if self._queue is None:
            self._queue = self._start()
        try:
            item = await self._queue.get()
        except BaseException:  # cancelled: stop polling too
            self.stop()
            raise
        if isinstance(item, End):
            self.stop()
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop polling (the thread ends at its next sleep or event)."""
        self._done = True
        if self._follower is not None:
            self._follower.stop()

    def __del__(self) -> None:
        self.stop()


class AsyncJobs:
    def __init__(self, jobs: Jobs):
        self._jobs = jobs

    async def create(
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
        """Like ``Client.jobs.create``; argument mistakes raise before any thread starts."""
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
        return await self.create_from_spec(spec)

    async def create_from_spec(self, spec: JobSpec, *, parent: str | None = None) -> Job:
        return await asyncio.to_thread(self._jobs.create_from_spec, spec, parent=parent)

    async def retrieve(self, job_id: str) -> Job:
        return await asyncio.to_thread(self._jobs.retrieve, job_id)

    async def list(self, *, limit: int = 20) -> JobList:
        return await asyncio.to_thread(self._jobs.list, limit=limit)

    @overload
    def events(
        self, job_id: str, *, after: str | None = ..., follow: Literal[False] = ...
    ) -> Awaitable[EventList]: ...
    @overload
    def events(
        self,
        job_id: str,
        *,
        after: str | None = ...,
        follow: Literal[True],
        interval: float | None = ...,
    ) -> AsyncIterator[Event]: ...
    def events(
        self,
        job_id: str,
        *,
        after: str | None = None,
        follow: bool = False,
        interval: float | None = None,
    ) -> Awaitable[EventList] | AsyncIterator[Event]:
        """``await jobs.events(id)`` for the list; ``async for e in jobs.events(id,
        follow=True)`` to follow the job until it ends (as ``Client.jobs.events``)."""
        if not follow:
            return asyncio.to_thread(self._jobs.events, job_id, after=after)
        return self._follow(job_id, after, self._jobs._interval(interval))

    def _follow(self, job_id: str, after: str | None, interval: float) -> EventStream:
        return EventStream(self._jobs._provider, job_id, after=after, interval=interval)

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
        interval: float | None = None,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        raise_on_failure: bool = True,
        on_outage: OutageCallback | None = None,
        max_outage: float | None = None,
    ) -> Job:
        """Like ``Client.jobs.wait``; cancelling the awaiting task stops the polling thread.

        The callbacks run in the polling thread, as with ``Client``.
        """
        stop = threading.Event()

        def run() -> Job:
            return self._jobs._wait(
                job_id,
                interval=interval,
                timeout=timeout,
                on_event=on_event,
                on_status=on_status,
                raise_on_failure=raise_on_failure,
                sleep=stoppable_sleep(stop),
                on_outage=on_outage,
                max_outage=max_outage,
            )

        try:
            return await asyncio.to_thread(run)
        except asyncio.CancelledError:
            stop.set()
            raise

    def cursor(self, job_id: str, *, after: str | None = None) -> AsyncEventCursor:
        """An incremental event reader: each ``await fetch()`` returns only new events."""
        return AsyncEventCursor(self._jobs.cursor(job_id, after=after))


__all__ = ["AsyncClient", "AsyncEventCursor", "AsyncFiles", "AsyncJobs", "EventStream"]
