"""The wait loop against providers that misbehave the way real ones do."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from anytune.errors import (
    JobFailedError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    WaitTimeoutError,
)
from anytune.polling import wait
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.testing.memory import MemoryStore
from anytune.types import Event, Job, JobSpec, JobStatus


class Flaky(InMemoryProvider):
    """Raises scripted errors before delegating, and counts calls."""

    def __init__(self) -> None:
        super().__init__(store=MemoryStore())
        self.script: list[Exception] = []
        self.calls: dict[str, int] = {"get_job": 0, "list_events": 0}
        self.after_args: list[str | None] = []

    def get_job(self, job_id: str) -> Job:
        self.calls["get_job"] += 1
        if self.script:
            raise self.script.pop(0)
        return super().get_job(job_id)

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        self.calls["list_events"] += 1
        self.after_args.append(after)
        return super().list_events(job_id, after=after)


@pytest.fixture
def flaky(tmp_path: Path) -> tuple[Flaky, str]:
    provider = Flaky()
    file_id = provider.upload_file(write_chat_jsonl(tmp_path / "t.jsonl")).id
    job = provider.create_job(JobSpec(model="m", training_file=file_id, options={"steps": 4}))
    return provider, job.id


def test_transient_errors_are_retried_honouring_retry_after(flaky: tuple[Flaky, str]) -> None:
    provider, job_id = flaky
    provider.script = [
        RateLimitError("slow down", retry_after=0.2),
        ServiceUnavailableError("oops"),
    ]
    start = time.monotonic()
    final = wait(provider, job_id, interval=0)
    assert final.status == JobStatus.SUCCEEDED
    assert provider.calls["get_job"] >= 2 + 5  # two failures, then the job's five reads
    # The first retry waited at least the Retry-After the provider asked for.
    assert time.monotonic() - start >= 0.2


def test_non_transient_errors_propagate(flaky: tuple[Flaky, str]) -> None:
    provider, job_id = flaky
    provider.script = [NotFoundError("gone")]
    with pytest.raises(NotFoundError):
        wait(provider, job_id, interval=0)


def test_events_are_fetched_incrementally_never_from_the_start(flaky: tuple[Flaky, str]) -> None:
    provider, job_id = flaky
    seen: list[Event] = []
    wait(provider, job_id, interval=0, on_event=seen.append)
    assert len({e.id for e in seen}) == len(seen) == len(provider.list_events(job_id))
    cursors = provider.after_args[:-1]  # the last call above is the test's own full read
    assert cursors[0] is None
    assert all(c is not None for c in cursors[1:]), "wait re-read the whole history"


def test_without_on_event_no_events_are_requested(flaky: tuple[Flaky, str]) -> None:
    provider, job_id = flaky
    wait(provider, job_id, interval=0)
    assert provider.calls["list_events"] == 0


def test_timeout_raises_with_last_seen_job(flaky: tuple[Flaky, str]) -> None:
    provider, job_id = flaky
    provider.pause_job(job_id)  # a paused job never finishes by itself
    with pytest.raises(WaitTimeoutError) as info:
        wait(provider, job_id, interval=0.01, timeout=0.1)
    assert info.value.job is not None and info.value.job.status == JobStatus.PAUSED
    assert info.value.exit_code == 124


def test_failure_carries_the_job_error(tmp_path: Path) -> None:
    provider = InMemoryProvider(store=MemoryStore())
    file_id = provider.upload_file(write_chat_jsonl(tmp_path / "t.jsonl")).id
    job = provider.create_job(
        JobSpec(model="m", training_file=file_id, options={"fail": "bad_data"})
    )
    with pytest.raises(JobFailedError) as info:
        wait(provider, job.id, interval=0)
    assert info.value.job.error is not None and info.value.job.error.code == "bad_data"
    assert "bad_data" in str(info.value)
    final = wait(provider, job.id, interval=0, raise_on_failure=False)
    assert final.status == JobStatus.FAILED


def test_status_callback_sees_each_change_once(flaky: tuple[Flaky, str]) -> None:
    provider, job_id = flaky
    statuses: list[str] = []
    wait(provider, job_id, interval=0, on_status=lambda j: statuses.append(str(j.status)))
    assert statuses == ["queued", "running", "succeeded"]


def test_a_long_outage_is_waited_out_with_capped_backoff(flaky: tuple[Flaky, str]) -> None:
    from anytune.errors import ProviderConnectionError
    from anytune.polling import Outage

    provider, job_id = flaky
    provider.script = [ProviderConnectionError("connection refused") for _ in range(40)]
    slept: list[float] = []
    outages: list[Outage] = []
    final = wait(provider, job_id, interval=0, sleep=slept.append, on_outage=outages.append)
    assert final.status == JobStatus.SUCCEEDED
    backoff = slept[:40]
    assert sum(backoff) > 600  # far longer than the old ~2 minute give-up
    assert max(backoff) <= 30 + 0.5  # capped (plus jitter)
    assert [o.attempt for o in outages if not o.recovered] == list(range(1, 41))
    assert [o.recovered for o in outages].count(True) == 1 and outages[-1].recovered


def test_max_outage_stops_with_wait_stopped_error(flaky: tuple[Flaky, str]) -> None:
    from anytune.errors import ProviderConnectionError, WaitStoppedError

    provider, job_id = flaky
    provider.script = [ProviderConnectionError("refused") for _ in range(1000)]
    with pytest.raises(WaitStoppedError) as info:
        wait(provider, job_id, interval=0, max_outage=0.3)
    assert info.value.exit_code == 75
    assert info.value.hint is not None and f"anytune wait {job_id}" in info.value.hint


def test_a_non_retryable_error_after_the_first_poll_stops_waiting(
    flaky: tuple[Flaky, str],
) -> None:
    from anytune.errors import AuthenticationError, WaitStoppedError

    provider, job_id = flaky
    calls = {"n": 0}
    original = provider.get_job

    def get_job(jid: str) -> Job:
        calls["n"] += 1
        if calls["n"] == 2:
            raise AuthenticationError("key revoked", hint="set OPENAI_API_KEY")
        return original(jid)

    provider.get_job = get_job  # type: ignore[method-assign]
    with pytest.raises(WaitStoppedError) as info:
        wait(provider, job_id, interval=0)
    assert "key revoked" in info.value.message
    assert info.value.job is not None  # the last state seen
    assert info.value.hint is not None and "OPENAI_API_KEY" in info.value.hint
    assert "keeps running" in info.value.hint
