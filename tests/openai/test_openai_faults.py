"""Scripted faults from the fake server, through the real SDK: retries that honour
Retry-After, and a create that happens exactly once however its response goes missing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.errors import (
    AuthenticationError,
    PermissionDeniedError,
    ProviderConnectionError,
    RateLimitError,
    ServiceUnavailableError,
    TrainingNotAvailableError,
)
from anytune.polling import wait
from anytune.types import JobSpec, JobStatus

CREATE = "POST /v1/fine_tuning/jobs"
LOOKUP = "GET /v1/fine_tuning/jobs"
JOB = "GET /v1/fine_tuning/jobs/{id}"

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def spec(provider: OpenAIProvider, train: Path) -> JobSpec:
    return JobSpec(model=MODEL, training_file=provider.upload_file(train).id)


def gaps(server: FakeOpenAIServer, route: str) -> list[float]:
    times = [r.at for r in server.requests if r.route == route]
    return [b - a for a, b in itertools.pairwise(times)]


def test_429_is_retried_after_the_servers_retry_after(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(spec)
    server.fail_next(JOB, status=429, retry_after=1.5)
    assert provider.get_job(job.id).id == job.id
    assert [r.status for r in server.requests if r.route == JOB] == [429, 200]
    assert gaps(server, JOB)[0] >= 1.5


def test_retry_after_ms_is_honoured_too(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(spec)
    server.fail_next(JOB, status=503, retry_after_ms=1200)
    provider.get_job(job.id)
    assert gaps(server, JOB)[0] >= 1.2


def test_429_on_create_is_retried_without_a_lookup(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    server.fail_next(CREATE, status=429, retry_after=0.2)
    provider.create_job(spec)
    assert len(server.jobs()) == 1
    assert server.count(LOOKUP) == 0  # a 429 was not processed: nothing to reconcile


@pytest.mark.parametrize(
    "fault",
    [
        {"drop": "after"},  # committed, then the connection dropped: the response is lost
        {"status": 502, "commit": True},  # committed, then a gateway error
        {"drop": "before"},  # dropped before the server did anything
        {"status": 500},  # failed without committing
    ],
    ids=["lost-response", "5xx-after-commit", "dropped-before", "500"],
)
def test_create_happens_exactly_once(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer, fault: dict[str, object]
) -> None:
    server.fail_next(CREATE, **fault)  # type: ignore[arg-type]
    job = provider.create_job(spec)
    (only,) = server.jobs()
    assert job.id == only["id"]
    committed = fault.get("drop") == "after" or fault.get("commit")
    assert server.count(CREATE) == (1 if committed else 2)
    if committed:
        assert server.count(LOOKUP) == 1  # looked up before trying again: found at once
    else:
        # Looked up for reconcile_seconds before re-sending (a commit may come late), then
        # again after it, in case the first attempt lands after all.
        creates = [r.at for r in server.requests if r.route == CREATE]
        lookups = [r.at for r in server.requests if r.route == LOOKUP]
        assert sum(creates[0] < t < creates[1] for t in lookups) >= 3
        assert sum(t > creates[1] for t in lookups) >= 2
    assert wait(provider, job.id, interval=0, timeout=30).status == JobStatus.SUCCEEDED


def test_create_timing_out_after_commit_is_found_not_repeated(
    server: FakeOpenAIServer, spec: JobSpec
) -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=server.url, timeout=0.5)
    server.fail_next(CREATE, delay=1.0, commit=True)
    job = provider.create_job(spec)
    assert [j["id"] for j in server.jobs()] == [job.id]
    assert server.count(CREATE) == 1


def test_create_that_keeps_failing_says_how_to_reuse_the_request_id(
    server: FakeOpenAIServer, spec: JobSpec
) -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=server.url, max_retries=1, reconcile_seconds=1)
    server.fail_next(CREATE, drop="before", times=2)
    with pytest.raises(ProviderConnectionError) as info:
        provider.create_job(spec)
    assert "anytune_request_id=" in str(info.value)
    assert server.jobs() == []
    request_id = str(info.value).split("anytune_request_id=")[1].split()[0]
    # Creating again with that id is idempotent: it reuses a job if one exists.
    again = JobSpec(
        model=spec.model,
        training_file=spec.training_file,
        metadata={"anytune_request_id": request_id},
    )
    first = provider.create_job(again)
    second = provider.create_job(again)
    assert first.id == second.id and len(server.jobs()) == 1


def test_connection_drop_on_a_read_is_retried(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(spec)
    server.fail_next(JOB, drop="before")
    assert provider.get_job(job.id).id == job.id
    assert [r.status for r in server.requests if r.route == JOB] == [None, 200]


def test_lost_cancel_response_returns_the_cancelled_job(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(spec)
    server.fail_next("POST /v1/fine_tuning/jobs/{id}/cancel", drop="after")
    assert provider.cancel_job(job.id).status == JobStatus.CANCELLED


def test_wait_completes_through_faults(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(spec)
    server.fail_next(JOB, status=500)
    server.fail_next("GET /v1/fine_tuning/jobs/{id}/events", drop="before")
    server.fail_next(JOB, status=429, retry_after=0.1)
    seen: list[str] = []
    final = wait(provider, job.id, interval=0, timeout=60, on_event=lambda e: seen.append(e.id))
    assert final.status == JobStatus.SUCCEEDED
    assert len(seen) == len(set(seen)) == len(server.api.jobs[job.id].events)


def test_training_not_available_is_not_retried_and_points_to_local(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    server.training_available = False
    with pytest.raises(TrainingNotAvailableError) as info:
        provider.create_job(spec)
    text = str(info.value)
    assert "winding down the fine-tuning platform" in text  # the server's own message
    assert "--provider local" in text
    assert server.count(CREATE) == 1 and server.jobs() == []


def test_scripted_403_has_openais_exact_body(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    server.fail_next(CREATE, status=403, code="training_not_available")
    with pytest.raises(TrainingNotAvailableError, match="no longer able to create new"):
        provider.create_job(spec)


def test_out_of_quota_is_not_retried(
    provider: OpenAIProvider, spec: JobSpec, server: FakeOpenAIServer
) -> None:
    server.fail_next(CREATE, status=429, code="insufficient_quota")
    with pytest.raises(PermissionDeniedError, match="quota"):
        provider.create_job(spec)
    assert server.count(CREATE) == 1


def test_retries_give_up_with_the_last_error(server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=server.url, max_retries=1)
    server.fail_next(JOB, status=503, times=2, retry_after=0)
    with pytest.raises(ServiceUnavailableError, match="503"):
        provider.get_job("ftjob-any")
    assert server.count(JOB) == 2
    server.fail_next(JOB, status=429, retry_after=0, times=2)
    with pytest.raises(RateLimitError):
        provider.get_job("ftjob-any")


@pytest.fixture
def echoing_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key="sk-other-key-0000", echo_key_in_errors=True) as fake:
        yield fake


def test_bad_key_names_the_variable_and_hides_the_key(echoing_server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=echoing_server.url)
    with pytest.raises(AuthenticationError) as info:
        provider.list_jobs()
    assert "OPENAI_API_KEY" in str(info.value)
    assert "Incorrect API key provided" in str(info.value)
    assert KEY not in str(info.value)
    assert KEY not in str(info.value.__cause__)
    assert echoing_server.count() == 1
