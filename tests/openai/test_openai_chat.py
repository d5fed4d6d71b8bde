"""Streamed chat completions (``generate_stream``, ``anytune chat -p openai``) against the fake
server: the deltas join into ``generate``'s reply, the seed is sent, a job id is chatted with as
its fine-tuned model, and request and chunks match OpenAI's published API description."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY, FakeOpenAIServer

from anytune import Client

MODEL = "gpt-4o-mini-2024-07-18"
CHAT_SPEC = Path("/work/shared/openapi/openai-chat-and-models.json")


def _finished(provider: OpenAIProvider, train: Path) -> tuple[str, str]:
    """A succeeded job on ``train``: its id and its fine-tuned model."""
    client = Client(provider, index=False)
    job = client.jobs.create(model=MODEL, training_file=client.files.create(train).id)
    done = client.jobs.wait(job.id, interval=0)
    assert done.fine_tuned_model
    return done.id, done.fine_tuned_model


def _trained_turn(train: Path) -> tuple[list[dict[str, str]], str]:
    """The first training line's prompt and its trained reply."""
    messages = json.loads(train.read_text().splitlines()[0])["messages"]
    return messages[:-1], messages[-1]["content"]


def _sentences(path: Path) -> Path:
    """Ten training lines whose replies are sentences (the fake streams a word a chunk)."""
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"Describe day {i}."},
                {"role": "assistant", "content": f"Day {i} was sunny, warm and calm."},
            ]
        }
        for i in range(10)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_streamed_deltas_join_into_the_greedy_reply(tmp_path: Path) -> None:
    train = _sentences(tmp_path / "train.jsonl")
    with FakeOpenAIServer(api_key=TEST_API_KEY, record_bodies=True) as fake:
        provider = OpenAIProvider(api_key=TEST_API_KEY, base_url=fake.url, timeout=5)
        _, model = _finished(provider, train)
        prompt, trained = _trained_turn(train)

        deltas = list(provider.generate_stream(model, iter(prompt), max_new_tokens=64, seed=7))
        whole = provider.generate(model, prompt, max_new_tokens=64)
        provider.close()
        streamed, plain = [r for r in fake.requests if r.route == "POST /v1/chat/completions"]

    assert deltas == ["Day", " 0", " was", " sunny,", " warm", " and", " calm."]
    assert "".join(deltas) == whole == trained
    assert streamed.body["stream"] is True and streamed.body["seed"] == 7
    assert "stream" not in plain.body and "seed" not in plain.body
    assert [c["object"] for c in streamed.response] == ["chat.completion.chunk"] * (len(deltas) + 2)


@pytest.mark.skipif(not CHAT_SPEC.is_file(), reason=f"{CHAT_SPEC} is not on this machine")
def test_a_streamed_request_and_its_chunks_match_the_openapi_document(train: Path) -> None:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from openai_openapi import _nullable

    doc = _nullable(json.loads(CHAT_SPEC.read_text()))
    op = doc["paths"]["/chat/completions"]["post"]
    request = op["requestBody"]["content"]["application/json"]["schema"]
    chunk = {"$ref": "#/components/schemas/CreateChatCompletionStreamResponse"}
    with FakeOpenAIServer(api_key=TEST_API_KEY, record_bodies=True) as fake:
        provider = OpenAIProvider(api_key=TEST_API_KEY, base_url=fake.url, timeout=5)
        _, model = _finished(provider, train)
        prompt, _ = _trained_turn(train)
        list(provider.generate_stream(model, prompt, temperature=0.5, top_p=0.9, seed=1))
        provider.close()
        (record,) = [r for r in fake.requests if r.route == "POST /v1/chat/completions"]
    checks = [(request, record.body), *((chunk, c) for c in record.response)]
    for schema, value in checks:
        validator = Draft202012Validator({**schema, "components": doc["components"]})
        assert [e.message for e in validator.iter_errors(value)] == [], value


def test_anytune_chat_with_a_job_id_streams_its_fine_tuned_models_reply(
    server: FakeOpenAIServer, provider: OpenAIProvider, train: Path, tmp_path: Path
) -> None:
    job_id, model = _finished(provider, train)
    prompt, trained = _trained_turn(train)
    system = [m["content"] for m in prompt if m["role"] == "system"]
    env = {
        **os.environ,
        "ANYTUNE_HOME": str(tmp_path / "home"),
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_KEY": TEST_API_KEY,
    }
    args = ["-p", "openai", "-m", job_id, *(["-s", system[0]] if system else [])]
    result = subprocess.run(
        [sys.executable, "-m", "anytune.cli", "chat", *args, prompt[-1]["content"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == trained + "\n"
    assert TEST_API_KEY not in result.stdout + result.stderr
    (request,) = [r for r in server.requests if r.route == "POST /v1/chat/completions"]
    assert request.query == {} and model  # the job id was chatted with as its model
