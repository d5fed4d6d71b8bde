"""Client and AsyncClient: one parametrized suite runs every behaviour through both, over the
memory provider, so the async client cannot drift from the sync one."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from anytune import AsyncClient, Client, JobStatus
from anytune.async_client import AsyncFiles, AsyncJobs
from anytune.client import Files, Jobs
from anytune.errors import (
    InvalidArgumentError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    WaitTimeoutError,
)
from anytune.index import JobIndex
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.testing.memory import MemoryStore
from anytune.types import Event, Job


class CountingProvider(InMemoryProvider):
    """The memory provider, counting how often it is polled."""

    name: ClassVar[str] = "memory"

    def __init__(self, *, store: MemoryStore | None = None) -> None:
        super().__init__(store=store or MemoryStore())
        self.reads = 0

    def get_job(self, job_id: str) -> Job:
        self.reads += 1
        return super().get_job(job_id)


class SlowDefaultProvider(InMemoryProvider):
    """Polling every 10 s would make a test time out; its own default is 0.01 s."""

    default_poll_interval: ClassVar[float] = 0.01


class Api:
    """Calls ``Client`` or ``AsyncClient`` the same way: ``api("jobs.create", ...)``."""

    def __init__(self, kind: str, make: Callable[[], Client | AsyncClient]):
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self.client: Any = self.run(make) if kind == "async" else make()

    def run(self, fn: Callable[[], Any]) -> Any:
        async def inside() -> Any:  # AsyncClient is created inside a running loop, as usual
            return fn()

        return self.loop.run_until_complete(inside())

    def __call__(self, path: str, *args: Any, **kwargs: Any) -> Any:
        target: Any = self.client
        for part in path.split("."):
            target = getattr(target, part)
        result = target(*args, **kwargs)
        return self.loop.run_until_complete(result) if self.kind == "async" else result

    def follow(self, job_id: str, *, take: int | None = None, **kwargs: Any) -> list[Event]:
        """Follow the job's events; stop after ``take`` of them (the consumer goes away)."""
        stream: Any = self.client.jobs.events(job_id, follow=True, **kwargs)
        if self.kind == "sync":
            taken: list[Event] = []
            for event in stream:
                taken.append(event)
                if take is not None and len(taken) == take:
                    break
            return taken

        async def consume() -> list[Event]:
            got: list[Event] = []
            async for event in stream:
                got.append(event)
                if take is not None and len(got) == take:
                    break
            await asyncio.sleep(0.05)  # let the dropped generator be finalised
            return got

        return list(self.loop.run_until_complete(consume()))

    def close(self) -> None:
        self("close")
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(kind: str) -> Iterator[Callable[..., Api]]:
    opened: list[Api] = []

    def make(provider: Any = "memory", **options: Any) -> Api:
        cls = AsyncClient if kind == "async" else Client
        api = Api(kind, lambda: cls(provider, **options))
        opened.append(api)
        return api

    yield make
    for api in opened:
        api.close()


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


def test_the_async_client_has_the_sync_clients_shape() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in inspect.getmembers(cls, callable)
            if not name.startswith("_")
        }

    for sync, mirror in ((Files, AsyncFiles), (Jobs, AsyncJobs)):
        assert public(sync).keys() == public(mirror).keys(), mirror.__name__
        for name, signature in public(sync).items():
            other = public(mirror)[name]
            assert list(other.parameters.values()) == list(signature.parameters.values()), name
    sync_client, async_client = Client("memory", index=False), AsyncClient("memory", index=False)
    for name in ("for_job", "provider_name", "provider", "close", "files", "jobs"):
        assert hasattr(sync_client, name) and hasattr(async_client, name), name
    # create takes the same explicit keywords, no **kwargs
    params = inspect.signature(AsyncJobs.create).parameters.values()
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params)


def test_quickstart_records_the_job_and_finds_it_again(
    connect: Callable[..., Api], train: Path, anytune_home: Path, kind: str
) -> None:
    api = connect()
    uploaded = api("files.create", train)
    assert api("files.retrieve", uploaded.id) == uploaded
    job = api(
        "jobs.create", model="base", training_file=uploaded.id, hyperparameters={"n_epochs": 2}
    )
    seen: list[str] = []
    final = api("jobs.wait", job.id, interval=0, on_event=lambda e: seen.append(e.message))
    assert final.status == JobStatus.SUCCEEDED
    assert seen[-1] == "The job has successfully completed"
    assert [c.step for c in api("jobs.checkpoints", job.id)] == [1, 2, 3]
    entry = JobIndex().lookup(job.id)[0]
    assert (entry.provider, entry.last_status) == ("memory", "succeeded")
    assert (anytune_home / "index.sqlite3").exists()
    cls = AsyncClient if kind == "async" else Client
    again = Api(kind, lambda: cls.for_job(job.id))
    assert isinstance(again.client, cls)
    assert again("jobs.retrieve", job.id).status == JobStatus.SUCCEEDED
    again.close()


def test_wait_uses_the_providers_default_interval(connect: Callable[..., Api], train: Path) -> None:
    api = connect(SlowDefaultProvider(store=MemoryStore()), index=False)
    job = api("jobs.create", model="b", training_file=api("files.create", train).id)
    # The old fixed default of 5 s per poll would need ~30 s here.
    assert api("jobs.wait", job.id, timeout=5).status == JobStatus.SUCCEEDED


def test_wait_records_failed_and_cancelled_in_the_index(
    connect: Callable[..., Api], train: Path
) -> None:
    api = connect()
    file_id = api("files.create", train).id
    failing = api("jobs.create", model="b", training_file=file_id, options={"fail": "bad_data"})
    with pytest.raises(JobFailedError):
        api("jobs.wait", failing.id, interval=0)
    cancelled = api("jobs.create", model="b", training_file=file_id)
    api("jobs.cancel", cancelled.id)
    assert JobIndex().lookup(cancelled.id)[0].last_status == "cancelled"
    with pytest.raises(JobCancelledError) as info:
        api("jobs.wait", cancelled.id, interval=0)
    assert info.value.job.status == JobStatus.CANCELLED
    assert JobIndex().lookup(failing.id)[0].last_status == "failed"


def test_pause_and_resume_keep_the_index_current(connect: Callable[..., Api], train: Path) -> None:
    api = connect()
    job = api("jobs.create", model="b", training_file=api("files.create", train).id)
    api("jobs.pause", job.id)
    api("jobs.retrieve", job.id)  # the memory provider pauses at its next step
    assert JobIndex().lookup(job.id)[0].last_status == "paused"
    api("jobs.resume", job.id)
    assert JobIndex().lookup(job.id)[0].last_status == "running"


def test_events_follow_yields_until_the_job_ends(connect: Callable[..., Api], train: Path) -> None:
    api = connect(index=False)
    job = api("jobs.create", model="b", training_file=api("files.create", train).id)
    followed = [e.id for e in api.follow(job.id, interval=0)]
    everything = [e.id for e in api("jobs.events", job.id)]
    assert followed == everything and followed
    after = api("jobs.events", job.id, after=everything[1])
    assert [e.id for e in after] == everything[2:]
    cursor = api.client.jobs.cursor(job.id)
    fetched: Any = cursor.fetch()
    fresh = api.loop.run_until_complete(fetched) if api.kind == "async" else fetched
    assert [e.id for e in fresh] == everything


def test_following_stops_polling_when_the_consumer_stops(
    connect: Callable[..., Api], train: Path
) -> None:
    provider = CountingProvider()
    api = connect(provider, index=False)
    job = api("jobs.create", model="b", training_file=api("files.create", train).id)
    api("jobs.pause", job.id)  # a paused job never ends: only the consumer can stop following
    assert len(api.follow(job.id, take=1, interval=0.01)) == 1
    time.sleep(0.05)
    reads = provider.reads
    time.sleep(0.2)
    assert provider.reads == reads, "the follow thread kept polling"
    assert not [t for t in threading.enumerate() if t.name.startswith("anytune-follow")]


def test_following_an_unknown_job_raises(connect: Callable[..., Api]) -> None:
    api = connect(index=False)
    with pytest.raises(NotFoundError):
        api.follow("ftjob-nope", interval=0)


def test_files_list_and_delete(connect: Callable[..., Api], train: Path, tmp_path: Path) -> None:
    api = connect(index=False)
    first = api("files.create", train)
    second = api("files.create", write_chat_jsonl(tmp_path / "b.jsonl", 3))
    assert [f.id for f in api("files.list")] == [second.id, first.id]
    assert [f.id for f in api("files.list", limit=1)] == [second.id]
    assert api("files.list", purpose="batch") == []
    api("files.delete", first.id)
    assert [f.id for f in api("files.list")] == [second.id]
    with pytest.raises(NotFoundError):
        api("files.delete", first.id)


def test_argument_mistakes_are_typed_errors(connect: Callable[..., Api], train: Path) -> None:
    api = connect(index=False)
    file_id = api("files.create", train).id
    with pytest.raises(InvalidArgumentError, match="valid hyperparameters"):
        api("jobs.create", model="b", training_file=file_id, hyperparameters={"epochs": 3})
    with pytest.raises(InvalidArgumentError, match="supported methods: dpo, supervised"):
        api("jobs.create", model="b", training_file=file_id, method="sft")
    with pytest.raises(InvalidArgumentError, match="valid options for memory"):
        api("jobs.create", model="b", training_file=file_id, options={"stepz": 1})
    assert api("jobs.list") == []


def test_wait_timeout_and_cancelling_an_async_wait(train: Path) -> None:
    provider = CountingProvider()

    async def main() -> tuple[int, int]:
        client = AsyncClient(provider, index=False)
        uploaded = await client.files.create(train)
        job = await client.jobs.create(model="b", training_file=uploaded.id)
        await client.jobs.pause(job.id)  # never finishes on its own
        with pytest.raises(WaitTimeoutError):
            await client.jobs.wait(job.id, interval=0.01, timeout=0.05)
        task = asyncio.create_task(client.jobs.wait(job.id, interval=0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        reads_after_cancel = provider.reads
        await asyncio.sleep(0.2)
        return reads_after_cancel, provider.reads

    after_cancel, later = asyncio.run(main())
    assert after_cancel > 3  # it was polling
    assert later == after_cancel  # and stopped


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        Client("memory", index=False).files.create(tmp_path / "nope.jsonl")


def test_for_job_unknown_id() -> None:
    with pytest.raises(NotFoundError, match="--provider"):
        Client.for_job("ftjob-unknown")
    with pytest.raises(NotFoundError, match="--provider"):
        AsyncClient.for_job("ftjob-unknown")


def test_index_is_safe_under_concurrent_writers(tmp_path: Path) -> None:
    index = JobIndex(tmp_path / "index.sqlite3")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                index.record(f"job-{n}-{i}", "memory", model="m")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    count = sqlite3.connect(index.path).execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert count == 150
    assert len(index.list(limit=500)) == 150
