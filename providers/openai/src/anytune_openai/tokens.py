"""Token counts as OpenAI bills them: o200k_base through tiktoken, counted the cookbook's way
(+3 per message, +1 per name, +3 reply priming).

tiktoken downloads an encoding the first time it is used. anytune never lets it: the exact
counter is used only when the encoding is already in tiktoken's local cache (verified by
its published hash); otherwise counts come from core's labelled estimate.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from anytune.dataset.tokens import EstimateTokenCounter
from anytune.provider import TokenCounter

# tiktoken_ext.openai_public: where o200k_base comes from and its sha256. tiktoken caches the
# file under sha1(url); these two constants let us find it without importing tiktoken.
_ENCODINGS: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3
PER_IMAGE = 85


def _cache_dir() -> Path | None:
    """tiktoken's cache directory, by tiktoken's own rules (None: caching disabled)."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if configured is not None:
        return Path(configured) if configured else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def encoding_cached(name: str = "o200k_base") -> bool:
    """True if tiktoken can load ``name`` without the network (cached and intact)."""
    if name not in _ENCODINGS:
        return False
    url, sha256 = _ENCODINGS[name]
    directory = _cache_dir()
    if directory is None:
        return False
    path = directory / hashlib.sha1(url.encode()).hexdigest()
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def count_chat_tokens(example: Mapping[str, Any], encode: Callable[[str], int]) -> int:
    """Tokens of one chat or DPO line, with ``encode(text) -> tokens`` for the text.

    As in OpenAI's cookbook: per message 3 + role + content (+ 1 + name); tool calls and
    tool definitions as their text; 3 for the reply priming. For DPO the prompt and both
    outputs are counted.
    """

    def content(value: Any) -> int:
        if isinstance(value, str):
            return encode(value)
        total = 0
        if isinstance(value, list):
            for part in value:
                if isinstance(part, dict):
                    text = part.get("text")
                    if isinstance(text, str):
                        total += encode(text)
                    elif part.get("type") == "image_url":
                        total += PER_IMAGE
        return total

    def call(value: Any) -> int:
        if not isinstance(value, dict):
            return 0
        return PER_MESSAGE + sum(
            encode(value[k]) for k in ("name", "arguments") if isinstance(value.get(k), str)
        )

    def message(value: Any) -> int:
        if not isinstance(value, dict):
            return 0
        total = PER_MESSAGE + content(value.get("content"))
        if isinstance(value.get("role"), str):
            total += encode(value["role"])
        if isinstance(value.get("name"), str):
            total += PER_NAME + encode(value["name"])
        for tool_call in value.get("tool_calls") or []:
            if isinstance(tool_call, dict):
                total += call(tool_call.get("function"))
        return total + call(value.get("function_call"))

    def messages(value: Any) -> int:
        return sum(message(m) for m in value) if isinstance(value, list) else 0

    def definitions(record: Mapping[str, Any]) -> int:
        return sum(
            encode(json.dumps(record[k], ensure_ascii=False))
            for k in ("tools", "functions")
            if record.get(k)
        )

    if "messages" in example:
        return messages(example["messages"]) + definitions(example) + REPLY_PRIMING
    total = REPLY_PRIMING
    prompt = example.get("input")
    if isinstance(prompt, dict):
        total += messages(prompt.get("messages")) + definitions(prompt)
    total += messages(example.get("preferred_output"))
    return total + messages(example.get("non_preferred_output"))


class TiktokenCounter(TokenCounter):
    """Exact counts with a tiktoken encoding (loaded on first use, never downloaded here)."""

    exact = True

    def __init__(self, encoding: str = "o200k_base", *, loaded: Any = None):
        self.encoding_name = encoding
        self.description = f"{encoding} via tiktoken, counted as in OpenAI's cookbook"
        self._encoding: Any = loaded

    def _encode_len(self, text: str) -> int:
        if self._encoding is None:
            import tiktoken

            self._encoding = tiktoken.get_encoding(self.encoding_name)
        return len(self._encoding.encode(text, disallowed_special=()))

    def count(self, example: Mapping[str, Any]) -> int:
        return count_chat_tokens(example, self._encode_len)


class OpenAIEstimateCounter(EstimateTokenCounter):
    """core's estimate, labelled with why the exact count was not possible."""

    def __init__(self, encoding: str = "o200k_base"):
        self.description = (
            f"estimate, ~4 UTF-8 bytes per token; {encoding} is not in tiktoken's local cache"
        )


def token_counter(encoding: str = "o200k_base") -> TokenCounter:
    """The exact counter if ``encoding`` is available offline, else the labelled estimate."""
    if encoding_cached(encoding):
        return TiktokenCounter(encoding)
    return OpenAIEstimateCounter(encoding)


def auto_epochs(n_examples: int) -> int:
    """How OpenAI resolves ``n_epochs="auto"`` (the cookbook's heuristic, an estimate).

    >>> auto_epochs(10), auto_epochs(1000), auto_epochs(20000)
    (10, 3, 1)
    """
    target_min, target_max, default, max_default = 100, 25_000, 3, 25
    if n_examples <= 0:
        return default
    if n_examples * default < target_min:
        return min(max_default, target_min // n_examples)
    if n_examples * default > target_max:
        return max(1, target_max // n_examples)
    return default
