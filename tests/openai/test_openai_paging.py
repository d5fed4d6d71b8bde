"""Issue 10 item 2: a server that says ``has_more`` but repeats a page does not make any
listing loop forever; every listing goes through one paging helper."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai._paging import paged
from anytune_openai.testing import FakeOpenAIServer

from anytune.errors import NotFoundError
from anytune.polling import wait
from anytune.types import JobSpec, JobStatus

MODEL = "gpt-4o-mini-2024-07-18"
EVENTS = "GET /v1/fine_tuning/jobs/{id}/events"
CHECKPOINTS = "GET /v1/fine_tuning/jobs/{id}/checkpoints"

pytestmark = pytest.mark.timeout(120)  # a paging loop that never ends fails here, not in 15 min


@pytest.fixture
def job_id(provider: OpenAIProvider, server: FakeOpenAIServer, train: Path) -> str:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    server.advance(job.id, 20)  # to the end: events and three checkpoints
    return job.id


def test_events_stop_when_a_page_repeats(
    provider: OpenAIProvider, server: FakeOpenAIServer, job_id: str
) -> None:
    server.repeat_pages(EVENTS)
    server.reset_requests()
    events = provider.list_events(job_id)
    assert len(events) == len(server.api.jobs[job_id].events)
    assert server.count(EVENTS) == 2  # the page, and the repeat that ends it
    latest = events[-1].id
    assert provider.list_events(job_id, after=latest) == []
    with pytest.raises(NotFoundError, match="no event"):
        provider.list_events(job_id, after="ftevent-unknown")  # bounded too, and says so


def test_checkpoints_stop_when_a_page_repeats(
    provider: OpenAIProvider, server: FakeOpenAIServer, job_id: str
) -> None:
    server.repeat_pages(CHECKPOINTS)
    server.reset_requests()
    checkpoints = provider.list_checkpoints(job_id)
    assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)
    assert len(checkpoints) == len(server.api.jobs[job_id].checkpoints) == 3
    assert server.count(CHECKPOINTS) == 2


def test_jobs_and_files_stop_when_a_page_repeats(
    provider: OpenAIProvider, server: FakeOpenAIServer, job_id: str
) -> None:
    server.repeat_pages("GET /v1/fine_tuning/jobs")
    server.repeat_pages("GET /v1/files")
    assert [j.id for j in provider.list_jobs(limit=50)] == [job_id]
    assert len(provider.list_files(limit=50)) == 1
    assert server.count("GET /v1/fine_tuning/jobs") == 2
    assert server.count("GET /v1/files") == 2


def test_wait_finishes_against_a_repeating_server(
    provider: OpenAIProvider, server: FakeOpenAIServer, train: Path
) -> None:
    """The issue's symptom: `anytune wait` hung inside its first poll."""
    server.repeat_pages(EVENTS)
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    seen: list[str] = []
    final = wait(provider, job.id, interval=0, timeout=60, on_event=lambda e: seen.append(e.id))
    assert final.status == JobStatus.SUCCEEDED
    assert len(seen) == len(set(seen))


def test_paging_across_many_pages_sees_every_item_once(
    provider: OpenAIProvider, server: FakeOpenAIServer, train: Path
) -> None:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    server.api.runner.total_steps = 250
    server.api.jobs[job.id].total_steps = 250
    server.advance(job.id, 300)
    server.reset_requests()
    events = provider.list_events(job.id)
    assert len(events) == len({e.id for e in events}) == len(server.api.jobs[job.id].events)
    assert len(events) > 250 and server.count(EVENTS) == 3  # pages of 100


def test_the_helper_is_bounded_even_when_every_page_is_new() -> None:
    counter = iter(range(10**9))

    def endless(after: str | None) -> SimpleNamespace:
        return SimpleNamespace(data=[SimpleNamespace(id=str(next(counter)))], has_more=True)

    assert len(list(paged(endless, what="endless", max_pages=7))) == 7
