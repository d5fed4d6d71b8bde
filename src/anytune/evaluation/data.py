"""The examples of an evaluation file: each chat line's prompt and reference answer.

The reference is the line's last message, which must be the assistant's (what the model is
asked to produce); the prompt is every message before it, with the line's tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anytune.dataset.reader import load_records
from anytune.dataset.rules import CHAT, example_problem
from anytune.errors import DatasetError, NotFoundError


@dataclass(frozen=True)
class EvalExample:
    line: int
    prompt: list[dict[str, Any]]
    """The conversation before the reference answer."""
    reference: str
    record: dict[str, Any] = field(repr=False)
    """The whole line (what ``Provider.score`` scores)."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: their text
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def load_examples(path: str | Path, *, limit: int | None = None) -> list[EvalExample]:
    """Every chat line of ``path`` (the first ``limit``). Problems: ``DatasetError`` listing
    each bad line as ``file:line: what``."""
    if not Path(path).is_file():
        raise NotFoundError(f"{path}: no such file", hint="pass the held-out chat JSONL file")
    problems: list[str] = []
    examples: list[EvalExample] = []
    for lineno, record in load_records(path):
        problem = example_problem(record, CHAT)
        messages = record.get("messages") if problem is None else None
        if problem is None and isinstance(messages, list):
            last = messages[-1]
            if last.get("role") != "assistant" or last.get("tool_calls"):
                problem = (
                    "the last message must be the assistant's text answer (the reference the "
                    "model's reply is compared with)"
                )
            elif len(messages) < 2:
                problem = "no prompt before the answer (add the user's message)"
        if problem is not None:
            problems.append(f"{path}:{lineno}: {problem}")
            continue
        assert isinstance(messages, list)
        prompt = [dict(m) for m in messages[:-1]]
        examples.append(EvalExample(lineno, prompt, _text(messages[-1].get("content")), record))
        if limit is not None and len(examples) >= limit:
            break
    if problems:
        raise DatasetError(
            f"{path}: {len(problems)} line(s) cannot be evaluated",
            problems=problems[:20],
            hint=f"fix the lines, or check the file with `anytune validate {path}`",
        )
    if not examples:
        raise DatasetError(f"{path}: no examples to evaluate", hint="add chat lines to the file")
    return examples


__all__ = ["EvalExample", "load_examples"]
