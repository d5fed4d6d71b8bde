"""The fake server's ``POST /v1/chat/completions``: a fine-tuned model of a succeeded job
"learned" its training file by heart (it answers a prompt it was trained on with the trained
reply), every other known model answers ``I don't know.``. Enough to evaluate against."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from anytune_openai.testing._wire import Request, Response, error, events

if TYPE_CHECKING:
    from anytune_openai.testing._api import FakeAPI

UNKNOWN = "I don't know."


def _learned(content: bytes) -> dict[str, str]:
    """Last user message -> last assistant message, for each training line."""
    replies: dict[str, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        try:
            messages = json.loads(line)["messages"]
            users = [m["content"] for m in messages if m.get("role") == "user"]
            replies[str(users[-1])] = str(messages[-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            continue
    return replies


def chat_completion(api: FakeAPI, req: Request) -> Response:
    body: Any = req.json
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return error(400, "messages is required", param="messages")
    model = str(body.get("model") or "")
    with api.lock:
        trained = [j for j in api.jobs.values() if j.data.get("fine_tuned_model") == model]
    if not trained and not any(model.startswith(m) for m in api.MODELS):
        return error(404, f"The model `{model}` does not exist", code="model_not_found")
    users = [m.get("content") for m in body["messages"] if m.get("role") == "user"]
    answer = UNKNOWN
    if trained and users:
        answer = _learned(trained[0].training_content).get(str(users[-1]), UNKNOWN)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int):
        answer = " ".join(answer.split(" ")[:limit])  # one "token" per word
    completion_id, created = f"chatcmpl-{int(time.time() * 1000)}", int(time.time())
    if body.get("stream"):
        return _streamed(completion_id, created, model, answer)
    return 200, {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _streamed(completion_id: str, created: int, model: str, answer: str) -> Response:
    """``answer`` as chat completion chunks: the role first, then one word (and the space
    before it) a chunk, then the finish reason, as OpenAI streams them."""
    words = answer.split(" ")
    pieces = [words[0], *(f" {w}" for w in words[1:])]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    return events(
        [
            chunk({"role": "assistant", "content": "", "refusal": None}),
            *(chunk({"content": piece}) for piece in pieces),
            chunk({}, "stop"),
        ]
    )
