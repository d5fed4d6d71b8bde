"""Checks of the parts of one example: messages, content parts, tool calls and tool
definitions. ``anytune.dataset.rules`` decides which parts an example has and calls these.

Every problem is a sentence: what is wrong, at which JSON path, and how to fix it. This runs
once per line of multi-GB files, so the common case (a message whose role and content are
non-empty strings) takes the fewest possible steps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeGuard

ROLES = ("system", "user", "assistant", "tool", "function")
_MESSAGE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "weight", "tool_calls", "function_call", "reasoning_content"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LEGACY_KEYS = frozenset({"prompt", "completion"})


@dataclass(slots=True)
class ExampleCheck:
    """The result of checking one line."""

    kind: str
    """"chat", "dpo", or "unknown" (neither shape)."""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    messages: int = 0
    has_system: bool = False


_TYPE_NAMES: dict[type, str] = {dict: "object", list: "list", str: "string", bool: "boolean"}


def type_name(value: Any) -> str:
    """How JSON calls the type of ``value``: object, list, string, null, ..."""
    return "null" if value is None else _TYPE_NAMES.get(type(value), type(value).__name__)


def _allowed(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


class Checker:
    """Accumulates the problems of one example."""

    __slots__ = ("errors", "result", "tool_ids", "tool_names", "warnings")

    def __init__(self, result: ExampleCheck) -> None:
        self.result = result
        self.errors = result.errors
        self.warnings = result.warnings
        self.tool_ids: set[str] = set()
        self.tool_names: set[str] | None = None

    # -- top level ---------------------------------------------------------------------
    def unknown_keys(self, record: dict[str, Any], allowed: frozenset[str], where: str) -> None:
        unknown = [key for key in record if key not in allowed]
        if not where and _LEGACY_KEYS.intersection(unknown):
            unknown = [key for key in unknown if key not in _LEGACY_KEYS]
            self.errors.append(
                "prompt/completion is the legacy format; convert the file with `anytune "
                "prepare FILE --input-field prompt --output-field completion -o OUT.jsonl`"
            )
        place = f"{where} has unknown key" if where else "unknown top-level key"
        for key in unknown:
            self.errors.append(f"{place} {key!r} (allowed: {_allowed(allowed)}; remove it)")

    def definitions(self, record: dict[str, Any], prefix: str) -> None:
        tools = record.get("tools")
        if tools is not None:
            self.tool_names = set()
            if not isinstance(tools, list):
                self.errors.append(
                    f'{prefix}tools must be a list of {{"type": "function", "function": '
                    f"{{...}}}}, got {type_name(tools)}"
                )
            else:
                for i, tool in enumerate(tools):
                    self.tool(tool, f"{prefix}tools[{i}]")
        parallel = record.get("parallel_tool_calls")
        if parallel is not None and not isinstance(parallel, bool):
            self.errors.append(
                f"{prefix}parallel_tool_calls must be true or false, got {type_name(parallel)}"
            )
        functions = record.get("functions")
        if functions is not None:
            if not isinstance(functions, list):
                self.errors.append(
                    f'functions must be a list of {{"name": ...}} objects, got {type_name(functions)}'
                )
            else:
                for i, fn in enumerate(functions):
                    if not isinstance(fn, dict) or not _nonempty_str(fn.get("name")):
                        self.errors.append(f'functions[{i}] needs a non-empty string "name"')

    def tool(self, tool: Any, path: str) -> None:
        if not isinstance(tool, dict):
            self.errors.append(f"{path} must be an object, got {type_name(tool)}")
            return
        if tool.get("type") != "function":
            self.errors.append(_function_type(tool, path))
        function = tool.get("function")
        if not isinstance(function, dict) or not _nonempty_str(function.get("name")):
            self.errors.append(
                f'{path}.function needs a non-empty string "name" (and optionally '
                '"description" and "parameters")'
            )
            return
        assert self.tool_names is not None
        self.tool_names.add(function["name"])
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            self.errors.append(
                f"{path}.function.parameters must be a JSON schema object, got "
                f"{type_name(parameters)}"
            )

    # -- messages ----------------------------------------------------------------------
    def messages(self, messages: Any, path: str) -> tuple[int, int, str | None]:
        """Check a message list; returns (assistant messages, trained ones, last role)."""
        if not isinstance(messages, list):
            self.errors.append(f"{path} must be a list of messages, got {type_name(messages)}")
            return 0, 0, None
        if not messages:
            self.errors.append(f"{path} is empty (add at least a user and an assistant message)")
            return 0, 0, None
        self.result.messages += len(messages)
        assistants = trained = 0
        role: Any = None
        for i, message in enumerate(messages):
            if type(message) is dict and len(message) == 2:  # fast path: role and content only
                role = message.get("role")
                content = message.get("content")
                if type(content) is str and content and role in _PLAIN_ROLES:
                    if role == "assistant":
                        assistants += 1
                        trained += 1
                    elif role == "system":
                        self.result.has_system = True
                    continue
            role = self.message(message, f"{path}[{i}]")
            if role == "assistant":
                assistants += 1
                if message.get("weight", 1) != 0:
                    trained += 1
            elif role == "system":
                self.result.has_system = True
        return assistants, trained, role if isinstance(role, str) else None

    def message(self, message: Any, path: str) -> str | None:
        """Check one message; returns its role when the role is valid."""
        if type(message) is not dict:
            self.errors.append(
                f'{path} must be an object with "role" and "content", got {type_name(message)}'
            )
            return None
        role = message.get("role")
        if type(role) is not str or role not in _MESSAGE_KEYS:
            if role is None:
                self.errors.append(f'{path} has no "role" (use one of {", ".join(ROLES)})')
            else:
                self.errors.append(f"{path}.role {role!r} is not one of {', '.join(ROLES)}")
            return None
        allowed = _MESSAGE_KEYS[role]
        content = message.get("content")
        if len(message) == 2 and type(content) is str and content and role in _PLAIN_ROLES:
            return role  # {"role": ..., "content": "..."}: nothing more to check
        if not allowed.issuperset(message):
            self.message_keys(message, allowed, role, path)
        if type(content) is str:
            if not content and not (message.get("tool_calls") or message.get("function_call")):
                self.warnings.append(f"{path} ({role}) has empty content")
        elif content is None:
            if role != "assistant":
                self.errors.append(f'{path} ({role}) has no "content" (add the message text)')
        elif type(content) is list:
            self.parts(content, role, path)
        else:
            self.errors.append(
                f"{path}.content must be a string or a list of content parts, got "
                f"{type_name(content)}"
            )
        if role == "assistant":
            self.assistant(message, path)
        elif role == "tool":
            self.tool_message(message, path)
        elif role == "function" and not _nonempty_str(message.get("name")):
            self.errors.append(f'{path} (function) needs the function\'s "name"')
        name = message.get("name")
        if name is not None and role != "function":
            if not isinstance(name, str):
                self.errors.append(f"{path}.name must be a string, got {type_name(name)}")
            elif not _NAME.fullmatch(name):
                self.warnings.append(
                    f"{path}.name {name!r} should be 1-64 letters, digits, _ or - "
                    "(providers may reject other names)"
                )
        return role

    def message_keys(
        self, message: dict[str, Any], allowed: frozenset[str], role: str, path: str
    ) -> None:
        for key in message:
            if key in allowed:
                continue
            if key == "weight":
                self.errors.append(
                    f"{path}.weight is only allowed on assistant messages (remove it)"
                )
            elif key == "name":
                self.errors.append(
                    f"{path}.name is only allowed on system, user and assistant messages (remove it)"
                )
            elif key in {"tool_calls", "function_call"}:
                self.errors.append(f"{path}.{key} is only allowed on assistant messages")
            elif key == "tool_call_id":
                self.errors.append(f"{path}.tool_call_id is only allowed on tool messages")
            else:
                self.errors.append(
                    f"{path} ({role}) has unknown key {key!r} (allowed: {_allowed(allowed)}; "
                    "remove it)"
                )

    def parts(self, parts: list[Any], role: str, path: str) -> None:
        if not parts:
            self.errors.append(f"{path}.content is an empty list (give the text as a string)")
        for j, part in enumerate(parts):
            where = f"{path}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    self.errors.append(f'{where} (text) needs a string "text"')
            elif kind == "image_url":
                image = part.get("image_url")
                if not isinstance(image, dict) or not _nonempty_str(image.get("url")):
                    self.errors.append(f'{where} (image_url) needs "image_url": {{"url": "..."}}')
                if role == "assistant":
                    self.errors.append(
                        f"{where}: assistant messages cannot contain images (move the image "
                        "into a user message)"
                    )
            elif not isinstance(part, dict):
                self.errors.append(
                    f'{where} must be an object like {{"type": "text", "text": "..."}}, got '
                    f"{type_name(part)}"
                )
            else:
                self.errors.append(f'{where} has unknown type {kind!r} (use "text" or "image_url")')

    def assistant(self, message: dict[str, Any], path: str) -> None:
        calls = message.get("tool_calls")
        function_call = message.get("function_call")
        if message.get("content") is None and calls is None and function_call is None:
            self.errors.append(
                f'{path} (assistant) has no "content", "tool_calls" or "function_call" '
                "(add the reply to learn as content)"
            )
        reasoning = message.get("reasoning_content")
        if reasoning is not None and not isinstance(reasoning, str):
            self.errors.append(
                f"{path}.reasoning_content must be a string (the reasoning before the answer), "
                f"got {type_name(reasoning)}"
            )
        if "weight" in message:
            weight = message["weight"]
            if type(weight) is not int or weight not in (0, 1):
                self.errors.append(f"{path}.weight must be 0 or 1, got {json.dumps(weight)}")
        if calls is not None:
            if not isinstance(calls, list) or not calls:
                self.errors.append(
                    f"{path}.tool_calls must be a non-empty list of tool calls, got "
                    f"{type_name(calls) if calls != [] else 'an empty list'}"
                )
            else:
                for k, call in enumerate(calls):
                    self.tool_call(call, f"{path}.tool_calls[{k}]")
        if function_call is not None:
            self.function(function_call, f"{path}.function_call")

    def tool_call(self, call: Any, path: str) -> None:
        if not isinstance(call, dict):
            self.errors.append(
                f'{path} must be an object with "id", "type" and "function", got {type_name(call)}'
            )
            return
        call_id = call.get("id")
        if not _nonempty_str(call_id):
            self.errors.append(
                f'{path} needs a string "id" (tool messages answer it with tool_call_id)'
            )
        else:
            self.tool_ids.add(call_id)
        if call.get("type") != "function":
            self.errors.append(_function_type(call, path))
        name = self.function(call.get("function"), f"{path}.function")
        if name is not None and self.tool_names is not None and name not in self.tool_names:
            self.warnings.append(
                f"{path} calls {name!r}, which is not among the example's tools "
                f"({', '.join(sorted(self.tool_names)) or 'none'})"
            )

    def function(self, function: Any, path: str) -> str | None:
        """Check ``{"name": ..., "arguments": "<JSON string>"}``; returns the name if valid."""
        if not isinstance(function, dict):
            self.errors.append(
                f'{path} must be an object with "name" and "arguments", got {type_name(function)}'
            )
            return None
        name = function.get("name")
        if not _nonempty_str(name):
            self.errors.append(f"{path}.name must be a non-empty string")
            name = None
        arguments = function.get("arguments")
        if isinstance(arguments, (dict, list)):
            self.errors.append(
                f"{path}.arguments must be a JSON string, got {type_name(arguments)} "
                "(encode it, e.g. with json.dumps)"
            )
        elif not isinstance(arguments, str):
            self.errors.append(
                f'{path}.arguments must be a JSON string such as "{{}}", got {type_name(arguments)}'
            )
        else:
            try:
                json.loads(arguments)
            except ValueError as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                self.errors.append(
                    f"{path}.arguments is not valid JSON ({msg}); it must be a JSON-encoded string"
                )
        return name

    def tool_message(self, message: dict[str, Any], path: str) -> None:
        call_id = message.get("tool_call_id")
        if not _nonempty_str(call_id):
            self.errors.append(
                f'{path} (tool) needs "tool_call_id": the id of the assistant tool call it answers'
            )
        elif call_id not in self.tool_ids:
            seen = ", ".join(sorted(self.tool_ids)) or "none"
            self.warnings.append(
                f"{path}.tool_call_id {call_id!r} matches no earlier tool call id "
                f"(ids so far: {seen})"
            )


def _function_type(entry: dict[str, Any], path: str) -> str:
    if "type" not in entry:
        return f'{path} needs "type": "function"'
    return f'{path}.type must be "function", got {entry["type"]!r}'


def _nonempty_str(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


__all__ = ["ROLES", "Checker", "ExampleCheck", "type_name"]
