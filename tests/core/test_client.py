from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from anytune import AsyncClient, Client, JobStatus
from anytune.errors import JobCancelledError, NotFoundError
from anytune.index import JobIndex
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.testing.memory import MemoryStore
from anytune.types import Job


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


def test_quickstart_shape(train: Path, anytune_home: Path) -> None:
    client = Client("memory")
    uploaded = client.files.create(train)
    assert client.files.retrieve(uploaded.id) == uploaded
    job = client.jobs.create(
        model="base", training_file=uploaded.id, hyperparameters={"n_epochs": 2}
    )
    seen: list[str] = []
    final = client.jobs.wait(job.id, interval=0, on_event=lambda e: seen.append(e.message))
    assert final.status == JobStatus.SUCCEEDED
    assert seen[-1] == "The job has successfully completed"
    assert [c.step for c in client.jobs.checkpoints(job.id)] == [1, 2, 3]
    # recorded in the index under ANYTUNE_HOME, with its final status
    entry = JobIndex().lookup(job.id)[0]
    assert (entry.provider, entry.last_status) == ("memory", "succeeded")
    assert (anytune_home / "index.sqlite3").exists()
    assert Client.for_job(job.id).jobs.retrieve(job.id).status == JobStatus.SUCCEEDED


def test_events_follow_yields_until_the_job_ends(train: Path) -> None:
    client = Client("memory", index=False)
    job = client.jobs.create(model="b", training_file=client.files.create(train).id)
    followed = [e.id for e in client.jobs.events(job.id, follow=True, interval=0)]
    assert followed == [e.id for e in client.jobs.events(job.id)]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        Client("memory", index=False).files.create(tmp_path / "nope.jsonl")


def test_for_job_unknown_id() -> None:
    with pytest.raises(NotFoundError, match="--provider"):
        Client.for_job("ftjob-unknown")


def test_async_client_same_shape(train: Path) -> None:
    async def main() -> tuple[str, str]:
        async with AsyncClient("memory", index=False) as client:
            uploaded = await client.files.create(train)
            job = await client.jobs.create(model="b", training_file=uploaded.id)
            done = await client.jobs.wait(job.id, interval=0)
            other = await client.jobs.create(model="b", training_file=uploaded.id)
            await client.jobs.cancel(other.id)
            try:
                await client.jobs.wait(other.id, interval=0)
            except JobCancelledError as exc:
                return str(done.status), str(exc.job.status)
            return str(done.status), "not raised"

    assert asyncio.run(main()) == ("succeeded", "cancelled")


class CountingProvider(InMemoryProvider):
    def __init__(self) -> None:
        super().__init__(store=MemoryStore())
        self.reads = 0

    def get_job(self, job_id: str) -> Job:
        self.reads += 1
        return super().get_job(job_id)


def test_cancelling_an_async_wait_stops_polling(train: Path) -> None:
    provider = CountingProvider()

    async def main() -> tuple[int, int]:
        client = AsyncClient(provider, index=False)
        uploaded = await client.files.create(train)
        job = await client.jobs.create(model="b", training_file=uploaded.id)
        await client.jobs.pause(job.id)  # never finishes on its own
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
