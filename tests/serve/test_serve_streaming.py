"""Token streaming and sampling of `POST /v1/chat/completions`: the real openai SDK (sync and
async) against a real `anytune serve` on the local provider, with a tiny model fine-tuned for
real through the server, and the local provider's `generate_stream` itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from servehelp import (
    KEY_A,
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
MESSAGES: list[Any] = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anytune_local.recipe.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("stream-tiny-model"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-stream")


@pytest.fixture(scope="module")
def server(home: Path, tiny_model: Path) -> Iterator[Server]:
    env = server_env(home)
    env["ANYTUNE_SERVER_API_KEYS"] = f"alpha:{KEY_A}"
    args = ["--provider", "local", "-m", f"tiny={tiny_model}", "--cache-seconds", "0.05"]
    for option in ("max_steps=3", "logging_steps=1", "lora_r=4", "lora_alpha=8"):
        args += ["-o", option]
    started = Server(args, env, home / "server.log").start()
    yield started
    started.stop()


@pytest.fixture
def client(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        api_key=KEY_A, base_url=server.url, http_client=validating_client(), max_retries=0
    ) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def tuned(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fine-tuned model, trained for real through the server."""
    sdk = openai.OpenAI(api_key=KEY_A, base_url=server.url, max_retries=0)
    train = write_chat_jsonl(tmp_path_factory.mktemp("stream-data") / "train.jsonl", 12)
    file = sdk.files.create(file=train.open("rb"), purpose="fine-tune")
    job = sdk.fine_tuning.jobs.create(model="tiny", training_file=file.id, suffix="stream")
    deadline = time.monotonic() + 300
    while (job := sdk.fine_tuning.jobs.retrieve(job.id)).status not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.3)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model
    return job.fine_tuned_model


def _post_stream(server: Server, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The raw event stream, every chunk validated against OpenAI's schema."""
    raw = httpx2.post(
        f"{server.url}/chat/completions",
        headers={"Authorization": f"Bearer {KEY_A}"},
        json={**body, "stream": True},
        timeout=120,
    )
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")
    chunks = sse_chunks(raw.text)
    for item in chunks:
        validate(component("CreateChatCompletionStreamResponse"), item)
    return chunks


def test_stream_sends_each_delta_as_it_is_generated(
    client: openai.OpenAI, server: Server, tuned: str
) -> None:
    plain = client.chat.completions.create(
        model=tuned, messages=MESSAGES, max_tokens=24, temperature=0
    )
    text = plain.choices[0].message.content or ""
    assert plain.usage is not None

    chunks = _post_stream(
        server,
        {
            "model": tuned,
            "messages": MESSAGES,
            "max_tokens": 24,
            "temperature": 0,
            "stream_options": {"include_usage": True},
        },
    )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:] if c["choices"]]
    contents = [piece for piece in contents if piece]
    # Chunks as tokens come (some wait for the rest of a character); that they are sent while
    # the model still runs, test_client_going_away_stops_generation shows.
    assert len(contents) > 1, f"one chunk per delta, not one for the reply: {contents}"
    assert "".join(contents) == text, "greedy: the stream says what the plain call said"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == plain.choices[0].finish_reason and not any(finishes[:-1])
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["choices"] == [] and all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["usage"] == plain.usage.model_dump(exclude_none=True)

    # The SDK reads the same stream.
    stream = client.chat.completions.create(
        model=tuned,
        messages=MESSAGES,
        max_completion_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert len(pieces) > 1 and "".join(pieces) == text
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens

    # No usage chunk unless asked for; no usage field at all then.
    unasked = _post_stream(
        server, {"model": tuned, "messages": MESSAGES, "max_tokens": 24, "temperature": 0}
    )
    assert all(c["choices"] and "usage" not in c for c in unasked)


def test_stop_sequences_cut_the_stream_where_they_cut_the_reply(
    client: openai.OpenAI, server: Server, tuned: str
) -> None:
    whole = client.chat.completions.create(
        model=tuned, messages=MESSAGES, max_tokens=24, temperature=0
    )
    text = whole.choices[0].message.content or ""
    assert len(text) > 8
    stop = text[5:8]  # spans deltas: the scanner must hold back a partial match
    expected = text[: text.find(stop)]
    cut = client.chat.completions.create(
        model=tuned, messages=MESSAGES, max_tokens=24, temperature=0, stop=[stop, "\x00never"]
    )
    assert cut.choices[0].message.content == expected
    assert cut.choices[0].finish_reason == "stop"
    chunks = _post_stream(
        server,
        {"model": tuned, "messages": MESSAGES, "max_tokens": 24, "temperature": 0, "stop": stop},
    )
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_async_sdk_streams_too(server: Server, tuned: str) -> None:
    async def both() -> tuple[str, list[str]]:
        async with openai.AsyncOpenAI(
            api_key=KEY_A,
            base_url=server.url,
            http_client=validating_async_client(),
            max_retries=0,
        ) as sdk:
            plain = await sdk.chat.completions.create(
                model=tuned, messages=MESSAGES, max_tokens=16, temperature=0
            )
            stream = await sdk.chat.completions.create(
                model=tuned, messages=MESSAGES, max_tokens=16, temperature=0, stream=True
            )
            pieces = [
                c.choices[0].delta.content
                async for c in stream
                if c.choices and c.choices[0].delta.content
            ]
            return plain.choices[0].message.content or "", pieces

    text, pieces = asyncio.run(both())
    assert len(pieces) > 1 and "".join(pieces) == text


def test_sampling_with_a_seed_repeats_and_is_not_greedy(
    client: openai.OpenAI, server: Server, tuned: str
) -> None:
    def reply(**settings: Any) -> list[str]:
        answer = client.chat.completions.create(
            model=tuned, messages=MESSAGES, max_tokens=16, **settings
        )
        return [choice.message.content or "" for choice in answer.choices]

    greedy = reply(temperature=0)
    assert reply(temperature=0) == greedy
    sampled = {seed: reply(temperature=1.5, seed=seed) for seed in (1, 2, 3)}
    assert any(s != greedy for s in sampled.values()), "temperature is not ignored"
    assert len({s[0] for s in sampled.values()}) > 1, "the seed is not ignored"
    assert reply(temperature=1.5, seed=2) == sampled[2], "a seed repeats its reply"
    # Streamed with the same seed: the same text; n choices get different samples.
    chunks = _post_stream(
        server,
        {"model": tuned, "messages": MESSAGES, "max_tokens": 16, "temperature": 1.5, "seed": 2},
    )
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == sampled[2][0]
    two = reply(temperature=1.5, seed=2, n=2)
    assert two[0] == sampled[2][0] and two[1] != two[0]
    # top_p this small keeps only the likeliest token: greedy again.
    assert reply(temperature=1.5, top_p=1e-9, seed=1) == greedy


@pytest.mark.parametrize(
    ("settings", "param", "code"),
    [
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"temperature": -0.1}, "temperature", "decimal_below_min_value"),
        ({"temperature": "hot"}, "temperature", "invalid_type"),
        ({"top_p": 1.01}, "top_p", "decimal_above_max_value"),
        ({"seed": 1.5}, "seed", "invalid_type"),
    ],
)
def test_sampling_settings_out_of_range_are_400(
    client: openai.OpenAI, settings: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="tiny",
            messages=MESSAGES,
            max_tokens=2,
            **settings,  # type: ignore[arg-type]
        )
    assert info.value.param == param and info.value.code == code
    assert info.value.type == "invalid_request_error"
    assert param in info.value.message


def test_client_going_away_stops_generation(client: openai.OpenAI, server: Server) -> None:
    body = {"model": "tiny", "messages": MESSAGES, "max_tokens": 4000, "temperature": 0}
    with httpx2.stream(
        "POST",
        f"{server.url}/chat/completions",
        headers={"Authorization": f"Bearer {KEY_A}"},
        json={**body, "stream": True},
        timeout=120,
    ) as response:
        lines = response.iter_lines()
        received = [line for line, _ in zip(lines, range(6), strict=False) if line]
    assert len(received) >= 3
    # Generations take turns; this one runs once the abandoned one has stopped.
    assert client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=2, temperature=0
    ).choices
    assert "the client went away; generation stopped" in server.output()


def test_local_generate_stream_is_generate_in_pieces_and_stops_when_closed(
    tiny_model: Path, home: Path, tuned: str
) -> None:
    from anytune_local.provider import LocalProvider
    from anytune_local.recipe.inference import load_for_inference

    provider = LocalProvider(home=home / "local")
    (job,) = [j for j in provider.list_jobs() if j.status == "succeeded"]
    pieces = list(provider.generate_stream(job.id, MESSAGES, max_new_tokens=20))
    assert len(pieces) > 1 and "".join(pieces) == provider.generate(
        job.id, MESSAGES, max_new_tokens=20
    )

    model, _ = load_for_inference(str(tiny_model))
    forwards: list[int] = []
    hook = model.register_forward_hook(lambda *_: forwards.append(1))
    try:
        deltas = provider.generate_stream(str(tiny_model), MESSAGES, max_new_tokens=4000)
        next(deltas), next(deltas)
        deltas.close()  # returns once generation has stopped
        stopped_at = len(forwards)
        time.sleep(0.2)
        assert len(forwards) == stopped_at < 50, "one forward pass per token, then none"
    finally:
        hook.remove()


def test_a_stream_that_cannot_start_is_an_http_error(client: openai.OpenAI) -> None:
    # Settled before the first byte: the SDK raises as for a plain request.
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="ft:tiny:alpha::00000000", messages=MESSAGES, stream=True
        )
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="tiny", messages=MESSAGES, stream=True, temperature=3)
    assert bad.value.param == "temperature"
