"""Fine-tuning jobs through the real openai SDK (sync and async) against `anytune serve` on
the memory provider: every response validated against OpenAI's OpenAPI document."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import openai
import pytest
from servehelp import SEEN, Server, server_env, validating_client

from anytune.testing.data import write_chat_jsonl

MODEL = "base-model"


@pytest.fixture
def training_id(client: openai.OpenAI, tmp_path: Path) -> str:
    return client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl", 12), purpose="fine-tune"
    ).id


def _wait(
    client: openai.OpenAI, job_id: str, timeout: float = 30.0
) -> openai.types.fine_tuning.FineTuningJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_create_wait_events_checkpoints_list(client: openai.OpenAI, training_id: str) -> None:
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training_id,
        suffix="weather",
        seed=7,
        metadata={"team": "a"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        integrations=[{"type": "wandb", "wandb": {"project": "p"}}],
    )
    assert job.integrations is not None and job.integrations[0].wandb.project == "p"
    assert job.status == "validating_files" and job.model == MODEL
    assert job.training_file == training_id and job.seed == 7
    assert job.method is not None and job.method.type == "supervised"
    assert job.metadata == {"team": "a"}

    done = _wait(client, job.id)
    assert done.status == "succeeded", done
    name = done.fine_tuned_model
    assert name is not None and name.startswith(f"ft:{MODEL}:alpha:weather:")
    assert done.hyperparameters.n_epochs == 2

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    assert events and events[0].created_at >= events[-1].created_at, "newest first"
    assert any(e.type == "metrics" for e in events)
    page = client.fine_tuning.jobs.list_events(job.id, limit=2)
    assert page.has_more and len(page.data) == 2
    older = client.fine_tuning.jobs.list_events(job.id, after=page.data[-1].id, limit=100)
    assert [e.id for e in page.data + older.data] == [e.id for e in events]
    assert not older.has_more

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [3, 2, 1]
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{name}:ckpt-step-3"
    assert all(c.fine_tuning_job_id == job.id for c in checkpoints)

    listed = client.fine_tuning.jobs.list(metadata={"team": "a"})
    assert job.id in [j.id for j in listed.data]
    assert client.fine_tuning.jobs.list(metadata={"team": "nobody"}).data == []

    models = [m.id for m in client.models.list().data]
    assert name in models and MODEL in models
    assert client.models.retrieve(name).owned_by == "alpha"
    assert client.models.delete(name).deleted
    assert name not in [m.id for m in client.models.list().data]
    assert client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model is None
    for route in ("POST /fine_tuning/jobs", "GET /fine_tuning/jobs", "GET /models"):
        assert route in SEEN.validated


def test_list_pages(client: openai.OpenAI, training_id: str) -> None:
    ids = [
        client.fine_tuning.jobs.create(model=MODEL, training_file=training_id).id for _ in range(3)
    ]
    first = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == ids[::-1][:2] and first.has_more
    rest = client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
    assert rest.data[0].id == ids[0]
    for job_id in ids:
        client.fine_tuning.jobs.cancel(job_id)


def test_cancel_pause_resume(client: openai.OpenAI, training_id: str) -> None:
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training_id)
    client.fine_tuning.jobs.pause(job.id)
    deadline = time.monotonic() + 30
    while client.fine_tuning.jobs.retrieve(job.id).status != "paused":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.fine_tuning.jobs.resume(job.id).status == "running"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_dpo_with_beta(client: openai.OpenAI, tmp_path: Path) -> None:
    line = (
        '{"input": {"messages": [{"role": "user", "content": "hi"}]}, '
        '"preferred_output": [{"role": "assistant", "content": "hello"}], '
        '"non_preferred_output": [{"role": "assistant", "content": "go away"}]}\n'
    )
    path = tmp_path / "dpo.jsonl"
    path.write_text(line * 4)
    file = client.files.create(file=path, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=file.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.5}}},
    )
    assert job.method is not None and job.method.type == "dpo"
    assert job.method.dpo is not None and job.method.dpo.hyperparameters is not None
    assert job.method.dpo.hyperparameters.beta == 0.5
    client.fine_tuning.jobs.cancel(job.id)


def test_async_sdk(async_client: openai.AsyncOpenAI, tmp_path: Path) -> None:
    async def scenario() -> str:
        path = write_chat_jsonl(tmp_path / "a.jsonl", 12)
        file = await async_client.files.create(file=path, purpose="fine-tune")
        jobs = await asyncio.gather(
            *[
                async_client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
                for _ in range(3)
            ]
        )
        assert len({j.id for j in jobs}) == 3
        for _ in range(100):
            states = await asyncio.gather(
                *[async_client.fine_tuning.jobs.retrieve(j.id) for j in jobs]
            )
            if all(s.status == "succeeded" for s in states):
                break
            await asyncio.sleep(0.05)
        events = await async_client.fine_tuning.jobs.list_events(jobs[0].id)
        assert events.data
        await async_client.close()
        return states[0].status

    assert asyncio.run(scenario()) == "succeeded"


def test_isolation_between_projects(
    client: openai.OpenAI, other_client: openai.OpenAI, training_id: str
) -> None:
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training_id)
    calls = [
        lambda: other_client.fine_tuning.jobs.retrieve(job.id),
        lambda: other_client.fine_tuning.jobs.cancel(job.id),
        lambda: other_client.fine_tuning.jobs.pause(job.id),
        lambda: other_client.fine_tuning.jobs.list_events(job.id),
        lambda: other_client.fine_tuning.jobs.checkpoints.list(job.id),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError):
            call()
    assert job.id not in [j.id for j in other_client.fine_tuning.jobs.list(limit=100).data]
    with pytest.raises(openai.BadRequestError) as info:
        other_client.fine_tuning.jobs.create(model=MODEL, training_file=training_id)
    assert info.value.param == "training_file"
    done = _wait(client, job.id)
    assert done.fine_tuned_model
    with pytest.raises(openai.NotFoundError):
        other_client.models.retrieve(done.fine_tuned_model)
    with pytest.raises(openai.NotFoundError):
        other_client.models.delete(done.fine_tuned_model)
    assert done.fine_tuned_model not in [m.id for m in other_client.models.list().data]


def test_events_are_never_behind_a_status_already_shown(tmp_path: Path) -> None:
    """With readings shared for 2 s, a status a client saw still comes with its events."""
    server = Server(
        ["--provider", "memory", "-m", f"{MODEL}={MODEL}", "--cache-seconds", "2"],
        server_env(tmp_path),
        tmp_path / "log",
    ).start()
    try:
        with openai.OpenAI(api_key="any", base_url=server.url, max_retries=0) as sdk:
            file = sdk.files.create(
                file=write_chat_jsonl(tmp_path / "t.jsonl", 12), purpose="fine-tune"
            )
            job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
            time.sleep(1.5)
            assert len(sdk.fine_tuning.jobs.list_events(job.id).data) == 1  # copied now
            time.sleep(0.7)  # the job reading is 2.2 s old, the events copy 0.7 s
            status = sdk.fine_tuning.jobs.retrieve(job.id).status
            assert status == "queued"  # read again: the memory job moved on, with an event
            messages = [e.message for e in sdk.fine_tuning.jobs.list_events(job.id).data]
            assert "Files validated, job queued" in messages
    finally:
        server.stop()


def test_a_failed_job_reports_its_error(tmp_path: Path) -> None:
    server = Server(
        ["--provider", "memory", "-m", f"{MODEL}={MODEL}", "-o", "fail=out_of_budget"],
        server_env(tmp_path),
        tmp_path / "log",
    ).start()
    try:
        with openai.OpenAI(
            api_key="any", base_url=server.url, http_client=validating_client(), max_retries=0
        ) as sdk:
            path = write_chat_jsonl(tmp_path / "t.jsonl", 12)
            file = sdk.files.create(file=path, purpose="fine-tune")
            job = _wait(sdk, sdk.fine_tuning.jobs.create(model=MODEL, training_file=file.id).id)
            assert job.status == "failed" and job.error is not None
            assert job.error.code == "out_of_budget" and job.error.message
            assert job.fine_tuned_model is None
            levels = [e.level for e in sdk.fine_tuning.jobs.list_events(job.id).data]
            assert "error" in levels
    finally:
        server.stop()
