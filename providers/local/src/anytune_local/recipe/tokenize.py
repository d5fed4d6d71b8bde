"""Render conversations with the model's own chat template into ``input_ids`` + ``labels``.

Labels follow OpenAI: the loss is computed on assistant messages whose ``weight`` is not 0 —
their text, their tool calls and their end-of-turn token(s) — and nowhere else (never system,
user or tool text). ``labels`` is ``-100`` everywhere else.

This works for any chat template, with or without ``{% generation %}`` markers. For assistant
message *i* the template renders two prefixes of the conversation:

- ``messages[:i]`` with the generation prompt: everything before the answer (headers included);
- ``messages[:i+1]``: everything up to the end of the answer's turn.

The characters between the two (trailing whitespace dropped: it belongs to the layout between
turns, not to the answer) are the trained span, and a token is trained when it starts inside a
span (token offsets from the fast tokenizer over the full rendering, so the ids are exactly
those the model sees at inference). A template that renders an earlier turn differently once
later turns exist breaks this, and is reported as an error rather than trained wrongly.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anytune.provider import RenderedExample, Segment, TokenCounter
from anytune_local.recipe import TrainingFailure

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """One tokenized example."""

    input_ids: list[int]
    labels: list[int]
    total_tokens: int
    """Before truncation."""
    text: str
    starts: list[int]
    """Character offset in ``text`` where each token (of the untruncated example) starts."""

    @property
    def truncated(self) -> bool:
        return self.total_tokens > len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def clean_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages as Hugging Face chat templates expect them: no ``weight``, text-part lists
    joined into one string, and tool-call ``arguments`` as objects (OpenAI sends JSON strings)."""
    cleaned = []
    for message in messages:
        item = {k: v for k, v in message.items() if k != "weight"}
        content = item.get("content")
        if isinstance(content, list) and all(
            isinstance(p, dict) and p.get("type") == "text" for p in content
        ):
            item["content"] = "".join(str(p.get("text", "")) for p in content)
        if item.get("tool_calls"):
            item["tool_calls"] = [_parsed_arguments(call) for call in item["tool_calls"]]
        cleaned.append(item)
    return cleaned


def _parsed_arguments(call: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    try:
        arguments = json.loads(function["arguments"])
    except ValueError:
        return call
    return {**call, "function": {**function, "arguments": arguments}}


class ChatEncoder:
    """Tokenizes conversations with ``tokenizer``'s chat template (see the module docstring)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int):
        if not getattr(tokenizer, "is_fast", False):
            raise TrainingFailure(
                "invalid_model",
                "the model's tokenizer is not a fast (Rust) tokenizer; anytune needs one to "
                "find which tokens belong to the assistant's answers",
            )
        if not getattr(tokenizer, "chat_template", None):
            raise TrainingFailure(
                "invalid_model",
                "the model has no chat template; use an instruct/chat model, or add a "
                "chat_template to its tokenizer_config.json",
            )
        self.tokenizer = tokenizer
        self.max_length = max_length

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        add_generation_prompt: bool,
    ) -> str:
        text = self.tokenizer.apply_chat_template(
            clean_messages(messages),
            tools=list(tools) if tools else None,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )
        return str(text)

    def trained_spans(
        self, messages: Sequence[Mapping[str, Any]], tools: list[dict[str, Any]] | None, full: str
    ) -> list[tuple[int, int]]:
        """Character spans of ``full`` that are trained."""
        spans = []
        for index, message in enumerate(messages):
            if message.get("role") != "assistant" or message.get("weight", 1) == 0:
                continue
            try:
                before = self.render(messages[:index], tools, add_generation_prompt=True)
            except Exception:  # a template that cannot render an empty conversation
                before = ""
            through = self.render(messages[: index + 1], tools, add_generation_prompt=False)
            if not (full.startswith(before) and full.startswith(through)) or len(through) <= len(
                before
            ):
                raise TrainingFailure(
                    "invalid_model",
                    f"the chat template renders message {index + 1} differently depending on "
                    "the messages after it, so anytune cannot tell which tokens are the "
                    "answer; use a model whose template is prefix-stable",
                )
            end = len(through.rstrip())
            spans.append((len(before), end if end > len(before) else len(through)))
        return spans

    def encode(
        self, messages: Sequence[Mapping[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> Encoded:
        full = self.render(messages, tools, add_generation_prompt=False)
        spans = self.trained_spans(messages, tools, full)
        encoding = self.tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(encoding["input_ids"])
        starts = [int(start) for start, _ in encoding["offset_mapping"]]
        labels = [
            token if any(lo <= start < hi for lo, hi in spans) else IGNORE_INDEX
            for token, start in zip(ids, starts, strict=True)
        ]
        return Encoded(
            input_ids=ids[: self.max_length],
            labels=labels[: self.max_length],
            total_tokens=len(ids),
            text=full,
            starts=starts,
        )


def segments(encoded: Encoded) -> list[Segment]:
    """The rendered text cut into runs of trained / untrained text (truncated text untrained)."""
    bounds = [*encoded.starts, len(encoded.text)]
    pieces: list[tuple[str, bool]] = []
    for index, start in enumerate(encoded.starts):
        trained = index < len(encoded.labels) and encoded.labels[index] != IGNORE_INDEX
        pieces.append((encoded.text[start : bounds[index + 1]], trained))
    if encoded.starts and encoded.starts[0] > 0:  # text before the first token (rare)
        pieces.insert(0, (encoded.text[: encoded.starts[0]], False))
    merged: list[Segment] = []
    for text, trained in pieces:
        if merged and merged[-1].trained == trained:
            merged[-1] = Segment(merged[-1].text + text, trained)
        elif text:
            merged.append(Segment(text, trained))
    return merged


@functools.lru_cache(maxsize=4)
def load_tokenizer(model: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a model directory, adapter directory or hub id (cached)."""
    from anytune_local.recipe.setup import load_tokenizer as _load

    return _load(model)


def render_example(
    example: Mapping[str, Any], *, model: str, options: Mapping[str, Any], line: int
) -> RenderedExample:
    """Which text of one example is trained, as ``anytune data render`` shows it."""
    from anytune_local.options import OPTION_SPECS

    max_length = int(options.get("max_length") or OPTION_SPECS["max_length"].default)
    encoder = ChatEncoder(load_tokenizer(model), max_length)
    messages, tools = _messages_of(example)
    encoded = encoder.encode(messages, tools)
    return RenderedExample(
        line=line,
        segments=segments(encoded),
        tokens=encoded.total_tokens,
        trained_tokens=encoded.trained_tokens,
        truncated=encoded.truncated,
    )


def _messages_of(example: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """Messages and tools of a chat line, or of a DPO line (its prompt and preferred reply)."""
    if "messages" in example:
        return list(example["messages"]), example.get("tools")
    prompt = example.get("input") or {}
    return [*prompt.get("messages", []), *example.get("preferred_output", [])], prompt.get("tools")


class ChatTemplateTokenCounter(TokenCounter):
    """Exact tokens of a training line: the model's tokenizer over its chat template."""

    exact = True

    def __init__(self, model: str):
        self.model = model
        self.description = f"{model} tokenizer + chat template"

    def count(self, example: Mapping[str, Any]) -> int:
        encoder = ChatEncoder(load_tokenizer(self.model), max_length=1 << 30)
        messages, tools = _messages_of(example)
        text = encoder.render(messages, tools, add_generation_prompt=False)
        return len(encoder.tokenizer(text, add_special_tokens=False)["input_ids"])
