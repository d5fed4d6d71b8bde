"""``POST /v1/chat/completions`` on the provider's ``generate`` (base and fine-tuned models).

The contract's ``generate`` returns a whole reply from ``messages`` and a token budget; what
OpenAI's API adds is done here: stop sequences (the reply is cut at the first one), ``n``
replies, usage counts (the provider's token counter for the model, else anytune's estimate)
and streaming, where the finished reply is sent as OpenAI's chunks.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from anytune.dataset.tokens import estimate_tokens
from anytune.provider import TokenCounter
from anytune.serve.errors import invalid, unknown_arguments
from anytune.serve.service import Service

ACCEPTED = frozenset(
    {
        "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
        "temperature", "top_p", "n", "stop", "seed", "user", "metadata", "store",
        "service_tier", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs",
        "top_logprobs", "parallel_tool_calls", "reasoning_effort", "verbosity",
        "safety_identifier", "prompt_cache_key", "prompt_cache_options",
        "prompt_cache_retention", "moderation", "modalities", "response_format",
    }
)  # fmt: skip
UNSUPPORTED = frozenset(
    {
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "audio",
        "prediction",
        "web_search_options",
    }
)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
DEFAULT_MAX_TOKENS = 256
MAX_TOKENS_LIMIT = 32768
MAX_N = 8


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    n: int
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise invalid(f"Invalid '{name}': expected a number from {low:g} to {high:g}.", param=name)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"Invalid '{name}': expected an integer from {low} to {high}.", param=name)
    return value


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise invalid(
            "Invalid 'messages': expected a non-empty array of messages.", param="messages"
        )
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise invalid(f"Invalid '{where}': expected an object.", param=where)
        if message.get("role") not in ROLES:
            raise invalid(
                f"Invalid '{where}.role': {message.get('role')!r} is not one of "
                f"{', '.join(sorted(ROLES))}.",
                param=f"{where}.role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise invalid(
                f"Invalid '{where}.content': expected a string or an array.",
                param=f"{where}.content",
            )
        if isinstance(content, list) and not all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        ):
            raise invalid(
                f"Invalid '{where}.content': only text parts are supported by this server.",
                param=f"{where}.content",
            )
    return [dict(m) for m in value]


def parse(body: Any) -> ChatRequest:
    if not isinstance(body, Mapping):
        raise invalid("The request body must be a JSON object.")
    unknown = sorted(set(body) - ACCEPTED - UNSUPPORTED)
    if unknown:
        raise unknown_arguments(unknown)
    refused = sorted(name for name in UNSUPPORTED if body.get(name) is not None)
    if refused:
        raise invalid(f"'{refused[0]}' is not supported by anytune serve.", param=refused[0])
    if body.get("logprobs"):
        raise invalid("'logprobs' is not supported by anytune serve.", param="logprobs")
    response_format = body.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise invalid(
            "Only response_format {'type': 'text'} is supported.", param="response_format"
        )
    if body.get("modalities") not in (None, ["text"]):
        raise invalid("Only the 'text' modality is supported.", param="modalities")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("Missing required parameter: 'model'.", param="model")
    messages = _messages(body.get("messages"))
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "frequency_penalty", -2, 2)
    _number(body, "presence_penalty", -2, 2)
    max_tokens = _integer(body, "max_completion_tokens", 1, MAX_TOKENS_LIMIT)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1, MAX_TOKENS_LIMIT)
    n = _integer(body, "n", 1, MAX_N) or 1
    stop = body.get("stop")
    if isinstance(stop, str):
        stops: tuple[str, ...] = (stop,)
    elif stop is None:
        stops = ()
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) and s for s in stop):
        stops = tuple(stop)
    else:
        raise invalid("Invalid 'stop': a string or up to 4 strings.", param="stop")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise invalid("Invalid 'stream': expected a boolean.", param="stream")
    options = body.get("stream_options")
    if options is not None and (not stream or not isinstance(options, Mapping)):
        raise invalid(
            "'stream_options' is only allowed when 'stream' is true.", param="stream_options"
        )
    include_usage = bool((options or {}).get("include_usage"))
    return ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
        n=n,
        stop=stops,
        stream=stream,
        include_usage=include_usage,
    )


@dataclass(frozen=True)
class Completion:
    id: str
    created: int
    model: str
    replies: list[tuple[str, str]]
    """``(text, finish_reason)`` per choice."""
    usage: dict[str, int]


_generate_lock = threading.Lock()
_counters: dict[str, TokenCounter | None] = {}


def _counter(service: Service, model: str) -> TokenCounter | None:
    if model not in _counters:
        try:
            _counters[model] = service.provider.dataset_rules(model).token_counter
        except Exception:  # no counter for this model: estimates instead
            _counters[model] = None
    return _counters[model]


def _count(counter: TokenCounter | None, messages: list[dict[str, Any]]) -> int:
    example = {"messages": messages}
    if counter is not None:
        try:
            return counter.count(example)
        except Exception:  # a template that rejects a prompt-only conversation, say
            pass
    return estimate_tokens(example)


def _cut(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    positions = [text.find(s) for s in stops if s in text]
    if not positions:
        return text, False
    return text[: min(positions)], True


def complete(service: Service, project: str, request: ChatRequest) -> Completion:
    """Run the model (blocking). One generation at a time: the model is shared."""
    if not service.provider.capabilities.generate:
        raise invalid(
            f"The provider '{service.provider.name}' behind this server cannot run models, so "
            "chat completions are not available here.",
            param="model",
            code="unsupported_provider",
        )
    target, _, _ = service.resolve_model(project, request.model)
    counter = _counter(service, target)
    # Counters count a whole training line: the prompt is the conversation with an empty
    # reply, and a reply's tokens are what it adds to that.
    prompt_tokens = _count(counter, [*request.messages, {"role": "assistant", "content": ""}])
    replies: list[tuple[str, str]] = []
    completion_tokens = 0
    for _ in range(request.n):
        with _generate_lock:
            text = service.call(
                service.provider.generate,
                target,
                request.messages,
                max_new_tokens=request.max_tokens,
                param="model",
            )
        text, stopped = _cut(str(text), request.stop)
        full = _count(counter, [*request.messages, {"role": "assistant", "content": text}])
        tokens = min(max(0, full - prompt_tokens), request.max_tokens)
        completion_tokens += tokens
        reason = "length" if not stopped and tokens >= request.max_tokens else "stop"
        replies.append((text, reason))
    return Completion(
        id=f"chatcmpl-{secrets.token_hex(12)}",
        created=int(time.time()),
        model=request.model,
        replies=replies,
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    )


def completion_json(result: Completion) -> dict[str, Any]:
    return {
        "id": result.id,
        "object": "chat.completion",
        "created": result.created,
        "model": result.model,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": reason,
                "logprobs": None,
            }
            for index, (text, reason) in enumerate(result.replies)
        ],
        "usage": result.usage,
    }


def chunks(result: Completion, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The completion as OpenAI's ``chat.completion.chunk`` objects."""

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": result.id,
            "object": "chat.completion.chunk",
            "created": result.created,
            "model": result.model,
            "choices": choices,
        }
        if include_usage:
            body["usage"] = usage
        return body

    for index, (text, reason) in enumerate(result.replies):
        yield chunk(
            [{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        for piece in re.findall(r"\s*\S+\s*|\s+", text):
            yield chunk([{"index": index, "delta": {"content": piece}, "finish_reason": None}])
        yield chunk([{"index": index, "delta": {}, "finish_reason": reason}])
    if include_usage:
        yield chunk([], result.usage)
