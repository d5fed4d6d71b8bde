"""End to end: the real openai SDK (sync and async) against `anytune serve` on the local
provider and the tiny model. One real training run: pause, resume, the server killed with
SIGKILL mid-training and started again, to `succeeded`; then chat with the fine-tuned model
(plain and streaming) and with a checkpoint."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from servehelp import (
    KEY_A,
    KEY_B,
    Server,
    component,
    server_env,
    sse_chunks,
    validate,
    validating_async_client,
    validating_client,
)

from anytune.testing.data import write_chat_jsonl

pytestmark = pytest.mark.slow
JOB_OPTIONS = ["max_steps=40", "save_steps=10", "logging_steps=1", "lora_r=4", "lora_alpha=8"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anytune_local.recipe.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("serve-tiny-model"))


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("serve-local")
    env = server_env(home)
    env["ANYTUNE_SERVER_API_KEYS"] = f"alpha:{KEY_A},beta:{KEY_B}"
    args = ["--provider", "local", "-m", f"tiny={tiny_model}", "--cache-seconds", "0.05"]
    for option in JOB_OPTIONS:
        args += ["-o", option]
    server = Server(args, env, home / "server.log").start()
    yield server
    server.stop()
    # Leave no worker behind: cancel whatever is still active in this store.
    from anytune_local.provider import LocalProvider
    from anytune_local.store import ACTIVE_STATUSES

    provider = LocalProvider(home=home / "local")
    for record in provider.store.jobs_with_status(ACTIVE_STATUSES):
        provider.cancel_job(record.id)


def _sdk(server: Server, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key, base_url=server.url, http_client=validating_client(), max_retries=0
    )


def _until(check: Callable[[], bool], what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _status(client: openai.OpenAI, job_id: str) -> str:
    return client.fine_tuning.jobs.retrieve(job_id).status


def test_train_pause_resume_kill_restart_then_chat(
    local_server: Server, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    client = _sdk(local_server)
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    file = client.files.create(file=train.open("rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="tiny", training_file=file.id, suffix="e2e")
    assert job.status in ("validating_files", "queued")

    # A second job waits for the training slot; cancelling it costs no training.
    queued = client.fine_tuning.jobs.create(model="tiny", training_file=file.id)
    assert client.fine_tuning.jobs.cancel(queued.id).status == "cancelled"

    def steps() -> list[int]:
        events = client.fine_tuning.jobs.list_events(job.id, limit=1000).data
        return [
            int(e.data["step"])
            for e in events
            if e.type == "metrics" and e.data and "step" in e.data
        ]

    _until(lambda: bool(steps()), "the first training step")
    client.fine_tuning.jobs.pause(job.id)
    _until(lambda: _status(client, job.id) in ("paused", "succeeded", "failed"), "pause")
    assert _status(client, job.id) == "paused"
    paused_at = max(steps())
    assert client.fine_tuning.jobs.resume(job.id).status in (
        "queued",
        "running",
        "validating_files",
    )

    # kill -9 the server while the detached worker trains; nothing may be lost.
    _until(lambda: max(steps(), default=0) > paused_at, "training after resume")
    seen_before_kill = {e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=1000).data}
    local_server.kill()
    local_server.start()
    client = _sdk(local_server)
    assert client.fine_tuning.jobs.retrieve(job.id).training_file == file.id
    _until(
        lambda: _status(client, job.id) in ("succeeded", "failed", "cancelled"), "the job to end"
    )

    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith("ft:tiny:alpha:e2e:")
    events = client.fine_tuning.jobs.list_events(job.id, limit=1000).data
    # No server path (model, adapter, store) in anything the client sees.
    shown = done.model_dump_json() + "".join(e.model_dump_json() for e in events)
    shown += client.fine_tuning.jobs.checkpoints.list(job.id).model_dump_json()
    assert str(tmp_path_factory.getbasetemp()) not in shown, shown
    ids = [e.id for e in events]
    assert seen_before_kill <= set(ids), "events from before the restart are kept"
    assert len(ids) == len(set(ids)) and len(ids) > len(seen_before_kill)
    assert max(steps()) == 40
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and all(
        c.fine_tuned_model_checkpoint.startswith(done.fine_tuned_model) for c in checkpoints
    )
    assert client.files.retrieve(file.id).bytes == train.stat().st_size  # files survive too
    assert queued.id in [j.id for j in client.fine_tuning.jobs.list().data]

    # Chat with the fine-tuned model, plain and streaming.
    messages: list[dict[str, str]] = [{"role": "user", "content": "Say something."}]
    reply = client.chat.completions.create(
        model=done.fine_tuned_model, messages=messages, max_tokens=8, temperature=0
    )  # type: ignore[arg-type]
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    text = reply.choices[0].message.content or ""

    stream = client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=messages,  # type: ignore[arg-type]
        max_completion_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == text, "greedy decoding: the stream says what the plain call said"
    assert usage is not None and usage.completion_tokens == reply.usage.completion_tokens

    raw = httpx2.post(
        f"{local_server.url}/chat/completions",
        headers={"Authorization": f"Bearer {KEY_A}"},
        json={
            "model": done.fine_tuned_model,
            "messages": messages,
            "max_tokens": 8,
            "stream": True,
            "n": 2,
        },
        timeout=120,
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(raw.text)
    assert raw.text.rstrip().endswith("data: [DONE]")
    for item in chunks:
        validate(component("CreateChatCompletionStreamResponse"), item)
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1}

    if text:
        first_word = text.split()[0] if text.split() else text
        cut = client.chat.completions.create(
            model=done.fine_tuned_model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=8,
            temperature=0,
            stop=[first_word],
        )
        assert first_word not in (cut.choices[0].message.content or "")
        assert cut.choices[0].finish_reason == "stop"

    # A checkpoint and the base model answer too; another project's key cannot use the model.
    checkpoint_reply = client.chat.completions.create(
        model=checkpoints[-1].fine_tuned_model_checkpoint, messages=messages, max_tokens=4
    )  # type: ignore[arg-type]
    assert checkpoint_reply.choices[0].message.role == "assistant"
    assert client.chat.completions.create(model="tiny", messages=messages, max_tokens=4).choices  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        _sdk(local_server, KEY_B).chat.completions.create(
            model=done.fine_tuned_model, messages=messages
        )  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="ft:tiny:alpha:e2e:00000000", messages=messages)  # type: ignore[arg-type]
    assert info.value.code == "model_not_found"

    # The async SDK sees the same state.
    async def async_view() -> tuple[str, int]:
        async with openai.AsyncOpenAI(
            api_key=KEY_A,
            base_url=local_server.url,
            http_client=validating_async_client(),
            max_retries=0,
        ) as aclient:
            retrieved, page = await asyncio.gather(
                aclient.fine_tuning.jobs.retrieve(job.id),
                aclient.fine_tuning.jobs.list_events(job.id, limit=5),
            )
            answer = await aclient.chat.completions.create(
                model=done.fine_tuned_model or "", messages=messages, max_tokens=4
            )  # type: ignore[arg-type]
            assert answer.choices
            return retrieved.status, len(page.data)

    assert asyncio.run(async_view()) == ("succeeded", 5)
    assert json.loads(done.model_dump_json())["object"] == "fine_tuning.job"
