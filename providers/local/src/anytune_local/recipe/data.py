"""Read training files in OpenAI's formats and report every problem as ``file:line: what``.

The full format check is ``anytune validate`` (core); this module re-checks what training
relies on, so a file that changed after upload fails with a clear message rather than a
traceback deep inside the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.dataset.reader import iter_lines
from anytune_local.recipe import TrainingFailure

ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class ChatExample:
    """One supervised example: the conversation, the tools it may call, where it came from."""

    line: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class PreferenceExample:
    """One DPO example: a conversation and a preferred and a non-preferred assistant reply."""

    line: int
    messages: list[dict[str, Any]]
    chosen: dict[str, Any]
    rejected: dict[str, Any]
    tools: list[dict[str, Any]] | None = None


def message_problem(message: Any, index: int) -> str | None:
    """What is wrong with one message for training, or None."""
    where = f"message {index + 1}"
    if not isinstance(message, dict):
        return f"{where} is not a JSON object"
    role = message.get("role")
    if role not in ROLES:
        return f"{where} has role {role!r}; use one of {', '.join(sorted(ROLES))}"
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        return f"{where}: content must be a string or a list of parts"
    if role == "assistant":
        if (
            content in (None, "", [])
            and not message.get("tool_calls")
            and not message.get("function_call")
        ):
            return f"{where}: an assistant message needs content or tool_calls"
        if "weight" in message and message["weight"] not in (0, 1):
            return f"{where}: weight must be 0 or 1, got {message['weight']!r}"
    elif "weight" in message:
        return f"{where}: weight is only allowed on assistant messages"
    return None


def _chat_example(record: Any, line: int) -> tuple[ChatExample | None, str | None]:
    if not isinstance(record, dict):
        return None, "expected a JSON object"
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, 'missing "messages" (a non-empty list of chat messages)'
    for index, message in enumerate(messages):
        problem = message_problem(message, index)
        if problem:
            return None, problem
    if not any(m["role"] == "assistant" for m in messages):
        return None, "no assistant message to train on"
    tools = record.get("tools")
    if tools is not None and not isinstance(tools, list):
        return None, '"tools" must be a list'
    return ChatExample(line, messages, tools), None


def _preference_example(record: Any, line: int) -> tuple[PreferenceExample | None, str | None]:
    if not isinstance(record, dict):
        return None, "expected a JSON object"
    prompt = record.get("input")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("messages"), list):
        return None, 'missing "input": {"messages": [...]} (OpenAI preference format)'
    messages = prompt["messages"]
    for index, message in enumerate(messages):
        problem = message_problem(message, index)
        if problem:
            return None, f"input {problem}"
    replies = []
    for key in ("preferred_output", "non_preferred_output"):
        value = record.get(key)
        if (
            not isinstance(value, list)
            or len(value) != 1
            or not isinstance(value[0], dict)
            or value[0].get("role") != "assistant"
        ):
            return None, f'"{key}" must be a list holding one assistant message'
        problem = message_problem(value[0], 0)
        if problem:
            return None, f"{key} {problem}"
        replies.append(value[0])
    tools = prompt.get("tools")
    if tools is not None and not isinstance(tools, list):
        return None, '"input.tools" must be a list'
    return PreferenceExample(line, messages, replies[0], replies[1], tools), None


def _read(path: Path, parse: Any) -> list[Any]:
    if not path.is_file():
        raise TrainingFailure("invalid_training_file", f"{path}: no such file")
    examples: list[Any] = []
    problems: list[str] = []
    for raw in iter_lines(path):
        if raw.error is not None:
            problems.append(f"{path}:{raw.lineno}: {raw.error}")
            continue
        example, problem = parse(raw.record, raw.lineno)
        if problem:
            problems.append(f"{path}:{raw.lineno}: {problem}")
        else:
            examples.append(example)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = f"\n... and {more} more" if more else ""
        raise TrainingFailure(
            "invalid_training_file",
            "\n".join(shown) + tail + f"\nrun `anytune validate {path}` for a full report",
        )
    if not examples:
        raise TrainingFailure("invalid_training_file", f"{path}: the file has no examples")
    return examples


def read_chat_file(path: Path) -> list[ChatExample]:
    """Supervised examples (``{"messages": [...], "tools": [...]}`` per line)."""
    return _read(Path(path), _chat_example)


def read_preference_file(path: Path) -> list[PreferenceExample]:
    """DPO examples in OpenAI's preference format."""
    return _read(Path(path), _preference_example)
