"""``POST /v1/chat/completions``: the request, checked as OpenAI checks it, and the response
objects (``chat.completion``, ``chat.completion.chunk``). Running the model is ``generation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anytune.serve.errors import invalid, unknown_arguments

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


SEED_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    n: int
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool
    temperature: float = 1.0
    """OpenAI's default: sampled. 0 is greedy."""
    top_p: float = 1.0
    seed: int | None = None


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", list: "an array", dict: "an object"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _bounded(name: str, value: float, low: float, high: float, kind: str) -> None:
    # OpenAI's words and codes for a number out of its range.
    if value < low:
        raise invalid(
            f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low:g}, "
            f"but got {value:g} instead.",
            param=name,
            code=f"{kind}_below_min_value",
        )
    if value > high:
        raise invalid(
            f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high:g}, "
            f"but got {value:g} instead.",
            param=name,
            code=f"{kind}_above_max_value",
        )


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(
            f"Invalid type for '{name}': expected a decimal, but got {_kind(value)} instead.",
            param=name,
            code="invalid_type",
        )
    _bounded(name, value, low, high, "decimal")
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(
            f"Invalid type for '{name}': expected an integer, but got {_kind(value)} instead.",
            param=name,
            code="invalid_type",
        )
    _bounded(name, value, low, high, "integer")
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
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    seed = _integer(body, "seed", *SEED_RANGE)
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
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        seed=seed,
    )


def completion_json(
    completion_id: str,
    created: int,
    model: str,
    replies: list[tuple[str, str]],
    usage: dict[str, int],
) -> dict[str, Any]:
    """A ``chat.completion``; ``replies`` are ``(text, finish_reason)`` per choice."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": reason,
                "logprobs": None,
            }
            for index, (text, reason) in enumerate(replies)
        ],
        "usage": usage,
    }


def chunk_json(
    completion_id: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    *,
    include_usage: bool,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``: with ``include_usage`` every chunk has ``usage``, null
    but on the last (whose ``choices`` are empty), as OpenAI sends them."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if include_usage:
        body["usage"] = usage
    return body


def delta_choice(
    index: int, delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
