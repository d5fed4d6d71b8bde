"""The core's exactly-once create (issue 15, item 4), parameterised by how a provider finds
the jobs of one request and how it cancels one: here the in-memory provider is the server
and a request's jobs are found by suffix (as Together finds them by model, files, suffix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anytune.errors import ProviderConnectionError, ServiceUnavailableError
from anytune.exactly_once import CreateOnce, DuplicateJobWarning
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.types import Job, JobSpec


@pytest.fixture
def server(tmp_path: Path) -> tuple[InMemoryProvider, JobSpec]:
    memory = InMemoryProvider()
    file_id = memory.upload_file(write_chat_jsonl(tmp_path / "t.jsonl")).id
    return memory, JobSpec(model="m", training_file=file_id, suffix="req-1")


def _once(memory: InMemoryProvider, send: object, **kwargs: object) -> CreateOnce:
    def lookup() -> list[Job]:
        return [j for j in memory.list_jobs(limit=100) if j.suffix == "req-1"]

    return CreateOnce(
        provider="memory",
        send=send,  # type: ignore[arg-type]
        lookup=lookup,
        cancel=memory.cancel_job,
        attempts=4,
        window=0.3,
        sleep=lambda s: None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_create_whose_answer_was_lost_is_found_not_sent_again(
    server: tuple[InMemoryProvider, JobSpec],
) -> None:
    memory, spec = server
    sent: list[Job] = []

    def send() -> Job:
        sent.append(memory.create_job(spec))
        if len(sent) == 1:
            raise ProviderConnectionError("connection dropped after the commit")
        return sent[-1]

    job = _once(memory, send).run()
    assert len(sent) == 1 and job.id == sent[0].id


def test_a_late_commit_after_the_resend_is_cancelled_keeping_the_oldest(
    server: tuple[InMemoryProvider, JobSpec],
) -> None:
    memory, spec = server
    calls: list[int] = []
    late: list[Job] = []

    def send() -> Job:
        calls.append(1)
        if len(calls) == 1:
            late.append(memory.create_job(spec))  # committed, but invisible until later
            memory._store.jobs[late[0].id].hidden = True  # type: ignore[attr-defined]
            raise ServiceUnavailableError("503 after the commit")
        memory._store.jobs[late[0].id].hidden = False  # type: ignore[attr-defined]
        return memory.create_job(spec)

    def lookup() -> list[Job]:
        jobs = memory.list_jobs(limit=100)
        return [
            j
            for j in jobs
            if j.suffix == "req-1" and not getattr(memory._store.jobs[j.id], "hidden", False)
        ]

    once = _once(memory, send, request="the create with suffix req-1")
    once._lookup = lookup
    with pytest.warns(DuplicateJobWarning) as caught:
        kept = once.run()
    warning = caught[0].message
    assert isinstance(warning, DuplicateJobWarning)
    assert kept.id == late[0].id  # the oldest
    assert len(warning.cancelled) == 1 and warning.request_id is None
    assert memory.get_job(warning.cancelled[0]).status == "cancelled"
    assert "the create with suffix req-1 took effect 2 times" in str(warning)


def test_retries_run_out_with_a_hint(server: tuple[InMemoryProvider, JobSpec]) -> None:
    memory, _ = server

    def send() -> Job:
        raise ProviderConnectionError("down")

    with pytest.raises(ProviderConnectionError) as info:
        _once(memory, send, unknown_hint="look first").run()
    assert info.value.hint == "look first"
