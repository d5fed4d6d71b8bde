"""OpenAI chat examples as Hugging Face chat templates expect them.

Applied before any rendering (training, ``data render``, token counting, ``validate``):

- OpenAI's legacy function format becomes the current one: ``functions`` → ``tools``, an
  assistant ``function_call`` → ``tool_calls`` (ids ``call_<n>``), a ``function`` message →
  a ``tool`` message answering that call;
- text-part lists are joined into one string; ``weight`` is removed (it decides what is
  trained, not what is rendered);
- tool-call ``arguments`` (JSON strings in OpenAI's format) become objects, as templates that
  ``tojson`` them expect (``ChatTemplate`` falls back to strings for templates that
  concatenate them);
- every string is cut to ``max_chars`` characters, so that memory stays bounded by
  ``max_length`` whatever the input (a token never covers more than ``max_chars /
  max_length`` characters, so the first ``max_length`` tokens are unchanged).

``content: null`` is kept as None here; ``ChatTemplate`` decides how each template can take it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Conversation:
    """One example, ready to render: messages, tools, and which assistant turns are trained."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    trained: list[int]
    """Indexes of the assistant messages whose weight is not 0."""
    cut: bool = False
    """Some text was longer than the character budget and was cut."""


def text_of(content: Any) -> str | None:
    """A message's content as one string (text parts joined), None when there is none."""
    if content is None:
        return None
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


class _Budget:
    def __init__(self, max_chars: int | None) -> None:
        self.max_chars = max_chars
        self.cut = False

    def __call__(self, text: str) -> str:
        if self.max_chars is not None and len(text) > self.max_chars:
            self.cut = True
            return text[: self.max_chars]
        return text


def _arguments(value: Any, budget: _Budget) -> Any:
    if not isinstance(value, str):
        return value
    text = budget(value)
    try:
        return json.loads(text)
    except ValueError:  # not JSON (the checker reports it), or cut by the budget
        return text


def _call_id(number: int) -> str:
    """An id for a legacy function call: 9 letters and digits, as Mistral's templates demand."""
    return f"call{number:05d}"


def _call(call: Mapping[str, Any], call_id: str, budget: _Budget) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    function["arguments"] = _arguments(function.get("arguments", "{}"), budget)
    return {"id": call.get("id") or call_id, "type": "function", "function": function}


def conversation(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    functions: Sequence[Mapping[str, Any]] | None = None,
    *,
    max_chars: int | None = None,
) -> Conversation:
    """Normalize one example (see the module docstring)."""
    budget = _Budget(max_chars)
    out: list[dict[str, Any]] = []
    trained: list[int] = []
    calls = 0
    last_function_call: str | None = None
    for message in messages:
        role = message.get("role")
        item: dict[str, Any] = {
            k: v for k, v in message.items() if k not in {"weight", "function_call", "content"}
        }
        content = text_of(message.get("content"))
        item["content"] = None if content is None else budget(content)
        if isinstance(item.get("reasoning_content"), str):
            item["reasoning_content"] = budget(item["reasoning_content"])
        if role == "assistant":
            tool_calls = [
                _call(c, _call_id(calls + k + 1), budget)
                for k, c in enumerate(item.get("tool_calls") or [])
            ]
            legacy = message.get("function_call")
            if isinstance(legacy, Mapping):
                last_function_call = _call_id(calls + len(tool_calls) + 1)
                tool_calls.append(_call({"function": legacy}, last_function_call, budget))
            calls += len(tool_calls)
            item.pop("tool_calls", None)
            if tool_calls:
                item["tool_calls"] = tool_calls
            if message.get("weight", 1) != 0:
                trained.append(len(out))
        elif role == "function":  # the legacy result of a function_call
            item["role"] = "tool"
            item["tool_call_id"] = last_function_call or _call_id(0)
        out.append(item)
    definitions = [dict(t) for t in tools] if tools else None
    if not definitions and functions:
        definitions = [{"type": "function", "function": dict(f)} for f in functions]
    return Conversation(out, definitions, trained, budget.cut)


def arguments_as_strings(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same messages with tool-call arguments as JSON strings (OpenAI's own form)."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            message = {
                **message,
                "tool_calls": [
                    {
                        **call,
                        "function": {
                            **call["function"],
                            "arguments": call["function"]["arguments"]
                            if isinstance(call["function"].get("arguments"), str)
                            else json.dumps(call["function"].get("arguments"), ensure_ascii=False),
                        },
                    }
                    for call in message["tool_calls"]
                ],
            }
        out.append(message)
    return out


def example_parts(
    example: Mapping[str, Any],
) -> tuple[list[Any], Any, Any, list[Any] | None]:
    """``(messages, tools, functions, replies)`` of a chat line or a DPO line.

    For a DPO line, ``messages`` is the prompt and ``replies`` its two outputs (preferred
    first); for a chat line ``replies`` is None.
    """
    if "messages" in example:
        return list(example["messages"]), example.get("tools"), example.get("functions"), None
    prompt = example.get("input") or {}
    replies = [
        *example.get("preferred_output", [])[:1],
        *example.get("non_preferred_output", [])[:1],
    ]
    return list(prompt.get("messages", [])), prompt.get("tools"), prompt.get("functions"), replies
