"""Polls answered from kept bytes (serve.reads, app.FastReads): the same answer the full path
gives, never one that is stale after a change, and never another project's.

In-process tests put a counter between FastReads and FastAPI to see which path answered;
the last test runs against a real `anytune serve` process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from servehelp import KEY_A, KEY_B, Server, check_response
from starlette.types import ASGIApp, Receive, Scope, Send

from anytune.serve.app import FastReads, create_app
from anytune.serve.auth import KeyRing
from anytune.serve.reads import _ENTRY_BYTES, Answers
from anytune.serve.service import ServeConfig, Service
from anytune.testing.data import write_chat_jsonl
from anytune.testing.memory import InMemoryProvider, MemoryStore

Scenario = Callable[[httpx2.AsyncClient, "Counting", Service], Awaitable[None]]


class Counting:
    """The FastAPI app, counting the requests that reach it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


def _run(tmp_path: Path, scenario: Scenario, *, cache_seconds: float, keys: str = "") -> None:
    config = ServeConfig(
        provider="memory",
        data_dir=tmp_path / "serve",
        models={"m": "m"},
        keys=KeyRing.load(None, keys),
        job_options={"steps": 2},
        cache_seconds=cache_seconds,
    )
    app = create_app(config, InMemoryProvider(store=MemoryStore()))
    counted = Counting(app)
    front = FastReads(counted, app.state.service)
    headers = {"Authorization": f"Bearer {KEY_A}"} if keys else {}

    async def main() -> None:
        transport = httpx2.ASGITransport(app=front)
        async with httpx2.AsyncClient(
            transport=transport,
            base_url="http://test/v1",
            headers=headers,
            event_hooks={"response": [_validated]},
        ) as http:
            await scenario(http, counted, app.state.service)

    asyncio.run(main())


async def _validated(response: httpx2.Response) -> None:
    await response.aread()
    check_response(response)  # OpenAI's OpenAPI schemas, as for every serve test


async def _job(http: httpx2.AsyncClient, tmp_path: Path) -> str:
    with write_chat_jsonl(tmp_path / "t.jsonl", 12).open("rb") as handle:
        file = await http.post(
            "/files", files={"file": ("t.jsonl", handle)}, data={"purpose": "fine-tune"}
        )
    job = await http.post(
        "/fine_tuning/jobs", json={"model": "m", "training_file": file.json()["id"]}
    )
    assert job.status_code == 200, job.text
    job_id: str = job.json()["id"]
    return job_id


def test_a_repeated_poll_gets_the_same_bytes_without_reaching_fastapi(tmp_path: Path) -> None:
    async def scenario(http: httpx2.AsyncClient, counted: Counting, service: Service) -> None:
        job_id = await _job(http, tmp_path)
        for path in (f"/fine_tuning/jobs/{job_id}", f"/fine_tuning/jobs/{job_id}/events"):
            first = await http.get(path)
            calls = counted.calls
            again = await http.get(path)
            assert counted.calls == calls, f"{path} was not answered from the kept bytes"
            assert again.status_code == first.status_code == 200
            assert again.content == first.content
            assert again.headers["content-type"] == first.headers["content-type"]
            assert again.headers["content-length"] == first.headers["content-length"]
        # Another query is another answer: built once by the full path, then kept too.
        everything = (await http.get(f"/fine_tuning/jobs/{job_id}/events")).json()["data"]
        calls = counted.calls
        one = await http.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1})
        assert counted.calls == calls + 1
        assert one.json()["data"] == everything[:1]
        assert one.json()["has_more"] is (len(everything) > 1)
        await http.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1})
        assert counted.calls == calls + 1
        # A query the full path refuses is never kept: refused again, by the full path.
        for _ in range(2):
            bad = await http.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 0})
            assert bad.status_code == 400
        assert counted.calls == calls + 3

    _run(tmp_path, scenario, cache_seconds=60)


def test_a_status_change_shows_on_the_next_poll(tmp_path: Path) -> None:
    async def scenario(http: httpx2.AsyncClient, counted: Counting, service: Service) -> None:
        job_id = await _job(http, tmp_path)
        first = (await http.get(f"/fine_tuning/jobs/{job_id}")).json()["status"]
        await asyncio.sleep(0.25)  # older than cache_seconds: the provider is read again
        second = (await http.get(f"/fine_tuning/jobs/{job_id}")).json()["status"]
        assert (first, second) == ("validating_files", "queued")  # moves on at each read
        await http.get(f"/fine_tuning/jobs/{job_id}/events")
        cancelled = await http.post(f"/fine_tuning/jobs/{job_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        # Within the same period: the cancel's answer replaces what was kept...
        assert (await http.get(f"/fine_tuning/jobs/{job_id}")).json()["status"] == "cancelled"
        # ...and the events that come with it are read again, not sent as kept.
        events = (await http.get(f"/fine_tuning/jobs/{job_id}/events")).json()["data"]
        assert events[0]["message"] == "Job cancelled"

    _run(tmp_path, scenario, cache_seconds=0.2)


def test_another_projects_job_stays_404_and_a_bad_key_401(tmp_path: Path) -> None:
    async def scenario(http: httpx2.AsyncClient, counted: Counting, service: Service) -> None:
        job_id = await _job(http, tmp_path)
        paths = (f"/fine_tuning/jobs/{job_id}", f"/fine_tuning/jobs/{job_id}/events")
        for path in paths:
            await http.get(path)
            await http.get(path)  # kept for alpha now
        others = (
            ({"Authorization": f"Bearer {KEY_B}"}, 404),
            ({"Authorization": "Bearer wrong-key-0123456789abcdef"}, 401),
            ({"Authorization": ""}, 401),
        )
        for headers, status in others:
            for path in paths:
                refused = await http.get(path, headers=headers)
                assert refused.status_code == status, (path, headers, refused.text)
                assert KEY_A not in refused.text and job_id not in json.dumps(dict(refused.headers))
        assert (await http.get(paths[0])).json()["id"] == job_id

    _run(tmp_path, scenario, cache_seconds=60, keys=f"alpha:{KEY_A},beta:{KEY_B}")


def test_a_deleted_model_shows_at_once_on_a_finished_job(tmp_path: Path) -> None:
    async def scenario(http: httpx2.AsyncClient, counted: Counting, service: Service) -> None:
        job_id = await _job(http, tmp_path)
        body: dict[str, Any] = {}
        for _ in range(20):
            body = (await http.get(f"/fine_tuning/jobs/{job_id}")).json()
            if body["status"] == "succeeded":
                break
        assert body["status"] == "succeeded" and body["fine_tuned_model"]
        calls = counted.calls
        await http.get(f"/fine_tuning/jobs/{job_id}")
        assert counted.calls == calls, "a finished job's answer is kept"
        deleted = await http.delete(f"/models/{body['fine_tuned_model']}")
        assert deleted.json()["deleted"] is True
        after = (await http.get(f"/fine_tuning/jobs/{job_id}")).json()
        assert after["status"] == "succeeded" and after["fine_tuned_model"] is None
        # A job the server forgets (a provider that restarted reuses ids) keeps nothing.
        service.forget(job_id)
        assert service.reads.kept("default", job_id, "job", b"") is None

    # cache_seconds 0: nothing is kept while the job runs, only once it is final.
    _run(tmp_path, scenario, cache_seconds=0)


def test_kept_answers_are_bounded_and_versioned() -> None:
    answers = Answers(max_bytes=10 * (100 + _ENTRY_BYTES))
    for number in range(100):
        answers.put(("p", f"job-{number}", "job", b""), 1, b"x" * 100)
    assert answers.get(("p", "job-99", "job", b""), 1) == b"x" * 100
    assert answers.get(("p", "job-0", "job", b""), 1) is None, "least recently used go first"
    assert sum(answers.get(("p", f"job-{n}", "job", b""), 1) is not None for n in range(100)) == 10
    assert answers.get(("p", "job-99", "job", b""), 2) is None, "another version is not it"
    answers.put(("p", "big", "events", b""), 1, b"x" * 500)
    assert answers.get(("p", "big", "events", b""), 1) is None, "one page never fills it"
    # Small answers under ever new query strings count their keeping too, not only bytes.
    for number in range(1000):
        answers.put(("p", "job-1", "events", f"after=ftevent-{number}".encode()), 1, b"{}")
    assert len(answers._items) <= answers.max_bytes // _ENTRY_BYTES


def test_a_real_server_keeps_answers_per_project(memory_server: Server, tmp_path: Path) -> None:
    def sdk(key: str) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=memory_server.url, max_retries=0)

    with sdk(KEY_A) as alpha, sdk(KEY_B) as beta:
        path = write_chat_jsonl(tmp_path / "t.jsonl", 12)
        file = alpha.files.create(file=path, purpose="fine-tune")
        job = alpha.fine_tuning.jobs.create(model="base-model", training_file=file.id)
        for _ in range(3):
            assert alpha.fine_tuning.jobs.retrieve(job.id).id == job.id
            assert alpha.fine_tuning.jobs.list_events(job.id).data
            with pytest.raises(openai.NotFoundError):
                beta.fine_tuning.jobs.retrieve(job.id)
            with pytest.raises(openai.NotFoundError):
                beta.fine_tuning.jobs.list_events(job.id)
