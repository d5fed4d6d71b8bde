"""Read training files in OpenAI's formats and report every problem as ``file:line: what``.

The format rules are the core's (``anytune.dataset.rules.check_example``, the same check
``anytune validate`` runs), so a line ``validate`` accepts is one training accepts, and the
reverse; this module only re-applies them, so a file that changed after upload fails with a
clear message rather than a traceback deep inside the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.dataset.reader import iter_lines
from anytune.dataset.rules import CHAT, DPO, example_problem
from anytune_local.recipe import TrainingFailure

MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class ChatExample:
    """One supervised example: the conversation, the tools it may call, where it came from."""

    line: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    functions: list[dict[str, Any]] | None = None
    """OpenAI's legacy function definitions (``recipe.messages`` turns them into tools)."""


@dataclass(frozen=True)
class PreferenceExample:
    """One DPO example: a conversation and a preferred and a non-preferred assistant reply."""

    line: int
    messages: list[dict[str, Any]]
    chosen: dict[str, Any]
    rejected: dict[str, Any]
    tools: list[dict[str, Any]] | None = None
    functions: list[dict[str, Any]] | None = None


def _chat_example(record: Any, line: int) -> tuple[ChatExample | None, str | None]:
    problem = example_problem(record, CHAT)
    if problem:
        return None, problem
    return ChatExample(line, record["messages"], record.get("tools"), record.get("functions")), None


def _preference_example(record: Any, line: int) -> tuple[PreferenceExample | None, str | None]:
    problem = example_problem(record, DPO)
    if problem:
        return None, problem
    prompt = record["input"]
    return (
        PreferenceExample(
            line,
            prompt["messages"],
            record["preferred_output"][0],
            record["non_preferred_output"][0],
            prompt.get("tools"),
            prompt.get("functions"),
        ),
        None,
    )


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
