"""A tokenizer-free token estimate for chat and DPO examples.

Used when no provider (or a provider without a tokenizer available offline) counts tokens.
It is an *estimate*: wherever its numbers are shown they must be labelled as such
(``EstimateTokenCounter.exact`` is False).

The rule (a heuristic: ~4 bytes per token is typical of English under o200k_base; its
accuracy against a real tokenizer has not been measured here):

* text: one token per 4 UTF-8 bytes (rounded up), so non-Latin scripts, which take more
  bytes per character, also count more tokens;
* 3 tokens per message, 1 more for a ``name``, 3 for the reply priming (OpenAI cookbook);
* tool calls: their name and arguments as text, plus 3;
* tool / function definitions: their JSON text, once per example;
* an image part: 85 tokens (a low-detail tile; real image costs depend on the size).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anytune.provider import TokenCounter

PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3
PER_IMAGE = 85


def text_tokens(text: str) -> int:
    """Estimated tokens in one string: UTF-8 bytes / 4, rounded up."""
    n = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return (n + 3) >> 2


def _content_tokens(content: Any) -> int:
    if type(content) is str:
        return text_tokens(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                total += text_tokens(text)
            elif part.get("type") == "image_url":
                total += PER_IMAGE
    return total


def _call_tokens(call: Any) -> int:
    if not isinstance(call, dict):
        return 0
    total = PER_MESSAGE
    for key in ("name", "arguments"):
        value = call.get(key)
        if isinstance(value, str):
            total += text_tokens(value)
    return total


def _message_tokens(message: Any) -> int:
    if not isinstance(message, dict):
        return 0
    total = PER_MESSAGE + _content_tokens(message.get("content"))
    name = message.get("name")
    if isinstance(name, str):
        total += PER_NAME + text_tokens(name)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                total += _call_tokens(call.get("function"))
    function_call = message.get("function_call")
    if function_call is not None:
        total += _call_tokens(function_call)
    return total


def _messages_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        content = message.get("content") if type(message) is dict else None
        if type(content) is str and len(message) == 2:  # the common case, inlined
            n = len(content) if content.isascii() else len(content.encode("utf-8", "surrogatepass"))
            total += PER_MESSAGE + ((n + 3) >> 2)
        else:
            total += _message_tokens(message)
    return total


def _definitions_tokens(record: Mapping[str, Any]) -> int:
    total = 0
    for key in ("tools", "functions"):
        value = record.get(key)
        if value:
            total += text_tokens(json.dumps(value, ensure_ascii=False))
    return total


def estimate_tokens(example: Mapping[str, Any]) -> int:
    """Estimated tokens of one training line (chat or DPO); never raises on odd input.

    For a DPO example the prompt and both outputs are counted, as all three are processed.

    >>> estimate_tokens({"messages": [{"role": "user", "content": "Hi"},
    ...                               {"role": "assistant", "content": "Hello!"}]})
    12
    """
    if "messages" in example:
        return _messages_tokens(example["messages"]) + REPLY_PRIMING + _definitions_tokens(example)
    prompt = example.get("input")
    total = REPLY_PRIMING
    if isinstance(prompt, dict):
        total += _messages_tokens(prompt.get("messages")) + _definitions_tokens(prompt)
    total += _messages_tokens(example.get("preferred_output"))
    total += _messages_tokens(example.get("non_preferred_output"))
    return total


class EstimateTokenCounter(TokenCounter):
    """``TokenCounter`` that needs no tokenizer: see the module docstring for the rule.

    Providers may use it as their offline fallback (e.g. when tiktoken cannot download its
    encoding); the counts are then reported as estimates.
    """

    exact = False
    description = "estimate: ~4 UTF-8 bytes per token, +3 per message, +3 per example"

    def count(self, example: Mapping[str, Any]) -> int:
        return estimate_tokens(example)


__all__ = ["EstimateTokenCounter", "estimate_tokens", "text_tokens"]
