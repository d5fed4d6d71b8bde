"""The guard: what the data says must be in what the template renders.

Every trained answer's text, reasoning, tool-call names and argument values, the tool
definitions and the earlier system / user / tool messages must appear in the rendering (as
written, or JSON-escaped); otherwise the example is refused as ``model M's chat template does
not render X`` rather than trained on what is left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from anytune_local.recipe.chat import Turn, unmarked
from anytune_local.recipe.messages import Conversation

if TYPE_CHECKING:
    from anytune_local.recipe.chat import ChatTemplate


def check(template: ChatTemplate, conv: Conversation, turns: list[Turn]) -> None:
    """Refuse an example whose rendering lacks what the data says (module docstring)."""
    if not turns:
        return
    first_context = unmarked(turns[0].context)
    for k, tool in enumerate(conv.tools or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        wanted = [str(function.get("name", ""))]
        if isinstance(function.get("description"), str):
            wanted.append(function["description"])
        for text in wanted:
            if text.strip() and not _renders(text, first_context):
                raise template._drops(f"the tool definitions (tools[{k}] {wanted[0]!r})")
    last = turns[-1]
    for index, message in enumerate(conv.messages[: last.index]):
        if message.get("role") in {"system", "user", "tool"}:
            said = message.get("content")
            context = next(t.context for t in turns if t.index > index)
            if isinstance(said, str) and said.strip() and not _renders(said, unmarked(context)):
                raise template._drops(f"message {index + 1} ({message['role']})")
    for turn in turns:
        _check_answer(template, conv.messages[turn.index], turn)


def _check_answer(template: ChatTemplate, message: Mapping[str, Any], turn: Turn) -> None:
    target = unmarked(turn.target)
    where = f"message {turn.index + 1}"
    content = message.get("content")
    if isinstance(content, str) and content.strip() and not _renders(content, target):
        raise template._drops(f"the content of {where} (the answer to train)")
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning.strip() and not _renders(reasoning, target):
        raise template._drops(f"the reasoning (reasoning_content) of {where}")
    for k, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        name = str(function.get("name", ""))
        if not _renders(name, target):
            raise template._drops(f"tool call {k + 1} ({name!r}) of {where}")
        for value in _leaves(function.get("arguments")):
            if not _renders_value(value, target):
                raise template._drops(f"the arguments of tool call {k + 1} ({name!r}) of {where}")


def _renders(text: str, rendered: str) -> bool:
    text = unmarked(text).strip()
    return text in rendered or json.dumps(text, ensure_ascii=False)[1:-1] in rendered


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value


def _renders_value(value: Any, rendered: str) -> bool:
    if isinstance(value, str):
        return not value.strip() or _renders(value, rendered)
    forms = {json.dumps(value), str(value)}
    return any(form in rendered for form in forms)
