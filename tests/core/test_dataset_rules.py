"""Every format rule, each with a bad line and the exact FILE:LINE message it must produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from anytune.dataset.validate import validate_file

USER = {"role": "user", "content": "What is 2+2?"}
ASSISTANT = {"role": "assistant", "content": "4"}
CALL = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}


def chat(*messages: Any, **top: Any) -> dict[str, Any]:
    return {"messages": list(messages), **top}


def dpo(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "input": {"messages": [USER]},
        "preferred_output": [{"role": "assistant", "content": "4"}],
        "non_preferred_output": [{"role": "assistant", "content": "5"}],
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not None}


def check(
    tmp_path: Path, record: Any, method: str = "supervised"
) -> tuple[str, list[str], list[str]]:
    """Write one line, validate it; returns (path, error strings, warning strings)."""
    path = tmp_path / "train.jsonl"
    line = record if isinstance(record, str) else json.dumps(record)
    path.write_text(line + "\n", encoding="utf-8")
    report = validate_file(path, method=method)
    return str(path), [str(p) for p in report.errors], [str(p) for p in report.warnings]


ERROR_CASES: list[tuple[str, Any, str]] = [
    (
        "not an object",
        [1, 2],
        'expected a JSON object, got list (each line must be one example like {"messages": [...]})',
    ),
    (
        "unknown top key",
        chat(USER, ASSISTANT, extra=1),
        "unknown top-level key 'extra' (allowed: functions, messages, parallel_tool_calls, tools; remove it)",
    ),
    (
        "legacy format",
        {"prompt": "a", "completion": "b"},
        "prompt/completion is the legacy format; convert the file with `anytune prepare FILE --input-field prompt --output-field completion -o OUT.jsonl`",
    ),
    (
        "no messages",
        {"conversation": []},
        'missing "messages" (each line must be {"messages": [{"role": ..., "content": ...}, ...]})',
    ),
    ("messages not list", {"messages": "hi"}, "messages must be a list of messages, got string"),
    (
        "messages empty",
        {"messages": []},
        "messages is empty (add at least a user and an assistant message)",
    ),
    (
        "message not object",
        chat("hi", ASSISTANT),
        'messages[0] must be an object with "role" and "content", got string',
    ),
    (
        "no role",
        chat({"content": "hi"}, ASSISTANT),
        'messages[0] has no "role" (use one of system, user, assistant, tool, function)',
    ),
    (
        "bad role",
        chat({"role": "bot", "content": "hi"}, ASSISTANT),
        "messages[0].role 'bot' is not one of system, user, assistant, tool, function",
    ),
    (
        "unknown message key",
        chat({**USER, "foo": 1}, ASSISTANT),
        "messages[0] (user) has unknown key 'foo' (allowed: content, name, role; remove it)",
    ),
    (
        "two keys, one unknown",
        chat({"role": "user", "text": "hi"}, ASSISTANT),
        "messages[0] (user) has unknown key 'text' (allowed: content, name, role; remove it)",
    ),
    (
        "user without content",
        chat({"role": "user"}, ASSISTANT),
        'messages[0] (user) has no "content" (add the message text)',
    ),
    (
        "content wrong type",
        chat({"role": "user", "content": 5}, ASSISTANT),
        "messages[0].content must be a string or a list of content parts, got int",
    ),
    (
        "content empty list",
        chat({"role": "user", "content": []}, ASSISTANT),
        "messages[0].content is an empty list (give the text as a string)",
    ),
    (
        "text part without text",
        chat({"role": "user", "content": [{"type": "text"}]}, ASSISTANT),
        'messages[0].content[0] (text) needs a string "text"',
    ),
    (
        "image part without url",
        chat(
            {"role": "user", "content": [{"type": "image_url", "image_url": "http://x"}]}, ASSISTANT
        ),
        'messages[0].content[0] (image_url) needs "image_url": {"url": "..."}',
    ),
    (
        "unknown part type",
        chat({"role": "user", "content": [{"type": "audio"}]}, ASSISTANT),
        'messages[0].content[0] has unknown type \'audio\' (use "text" or "image_url")',
    ),
    (
        "part not object",
        chat({"role": "user", "content": ["hi"]}, ASSISTANT),
        'messages[0].content[0] must be an object like {"type": "text", "text": "..."}, got string',
    ),
    (
        "image in assistant",
        chat(
            USER,
            {
                "role": "assistant",
                "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
            },
        ),
        "messages[1].content[0]: assistant messages cannot contain images (move the image into a user message)",
    ),
    (
        "name on tool",
        chat(
            USER,
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "c1", "content": "4", "name": "add"},
            ASSISTANT,
        ),
        "messages[2].name is only allowed on system, user and assistant messages (remove it)",
    ),
    (
        "name not a string",
        chat({**USER, "name": 7}, ASSISTANT),
        "messages[0].name must be a string, got int",
    ),
    (
        "weight on user",
        chat({**USER, "weight": 1}, ASSISTANT),
        "messages[0].weight is only allowed on assistant messages (remove it)",
    ),
    (
        "weight 2",
        chat(USER, {**ASSISTANT, "weight": 2}),
        "messages[1].weight must be 0 or 1, got 2",
    ),
    (
        "weight 0.5",
        chat(USER, {**ASSISTANT, "weight": 0.5}),
        "messages[1].weight must be 0 or 1, got 0.5",
    ),
    (
        "weight true",
        chat(USER, {**ASSISTANT, "weight": True}),
        "messages[1].weight must be 0 or 1, got true",
    ),
    (
        "empty assistant",
        chat(USER, {"role": "assistant"}),
        'messages[1] (assistant) has no "content", "tool_calls" or "function_call" (add the reply to learn as content)',
    ),
    (
        "no assistant",
        chat(USER),
        'no assistant message (add the reply to learn: {"role": "assistant", "content": "..."})',
    ),
    (
        "tool_calls empty",
        chat(USER, {"role": "assistant", "tool_calls": []}, ASSISTANT),
        "messages[1].tool_calls must be a non-empty list of tool calls, got an empty list",
    ),
    (
        "tool_calls not list",
        chat(USER, {"role": "assistant", "tool_calls": CALL}, ASSISTANT),
        "messages[1].tool_calls must be a non-empty list of tool calls, got object",
    ),
    (
        "tool call without id",
        chat(USER, {"role": "assistant", "tool_calls": [{**CALL, "id": None}]}, ASSISTANT),
        'messages[1].tool_calls[0] needs a string "id" (tool messages answer it with tool_call_id)',
    ),
    (
        "tool call type",
        chat(USER, {"role": "assistant", "tool_calls": [{**CALL, "type": "fn"}]}, ASSISTANT),
        "messages[1].tool_calls[0].type must be \"function\", got 'fn'",
    ),
    (
        "tool call no function",
        chat(
            USER, {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function"}]}, ASSISTANT
        ),
        'messages[1].tool_calls[0].function must be an object with "name" and "arguments", got null',
    ),
    (
        "function without name",
        chat(
            USER,
            {"role": "assistant", "tool_calls": [{**CALL, "function": {"arguments": "{}"}}]},
            ASSISTANT,
        ),
        "messages[1].tool_calls[0].function.name must be a non-empty string",
    ),
    (
        "arguments as object",
        chat(
            USER,
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "add", "arguments": {"a": 2}}}],
            },
            ASSISTANT,
        ),
        "messages[1].tool_calls[0].function.arguments must be a JSON string, got object (encode it, e.g. with json.dumps)",
    ),
    (
        "arguments not JSON",
        chat(
            USER,
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "add", "arguments": "{a: 2}"}}],
            },
            ASSISTANT,
        ),
        "messages[1].tool_calls[0].function.arguments is not valid JSON (Expecting property name enclosed in double quotes); it must be a JSON-encoded string",
    ),
    (
        "arguments missing",
        chat(
            USER,
            {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "add"}}]},
            ASSISTANT,
        ),
        'messages[1].tool_calls[0].function.arguments must be a JSON string such as "{}", got null',
    ),
    (
        "function_call arguments",
        chat(
            USER,
            {"role": "assistant", "function_call": {"name": "add", "arguments": [1]}},
            ASSISTANT,
        ),
        "messages[1].function_call.arguments must be a JSON string, got list (encode it, e.g. with json.dumps)",
    ),
    (
        "tool without id",
        chat(
            USER,
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "content": "4"},
            ASSISTANT,
        ),
        'messages[2] (tool) needs "tool_call_id": the id of the assistant tool call it answers',
    ),
    (
        "tool_call_id on user",
        chat({**USER, "tool_call_id": "c1"}, ASSISTANT),
        "messages[0].tool_call_id is only allowed on tool messages",
    ),
    (
        "tool_calls on user",
        chat({**USER, "tool_calls": [CALL]}, ASSISTANT),
        "messages[0].tool_calls is only allowed on assistant messages",
    ),
    (
        "function role without name",
        chat(USER, {"role": "function", "content": "4"}, ASSISTANT),
        'messages[1] (function) needs the function\'s "name"',
    ),
    (
        "tools not list",
        chat(USER, ASSISTANT, tools={"type": "function"}),
        'tools must be a list of {"type": "function", "function": {...}}, got object',
    ),
    (
        "tool type",
        chat(USER, ASSISTANT, tools=[{"function": {"name": "add"}}]),
        'tools[0] needs "type": "function"',
    ),
    (
        "tool without name",
        chat(USER, ASSISTANT, tools=[{"type": "function", "function": {}}]),
        'tools[0].function needs a non-empty string "name" (and optionally "description" and "parameters")',
    ),
    (
        "tool parameters",
        chat(
            USER,
            ASSISTANT,
            tools=[{"type": "function", "function": {"name": "add", "parameters": "x"}}],
        ),
        "tools[0].function.parameters must be a JSON schema object, got string",
    ),
    (
        "parallel_tool_calls",
        chat(USER, ASSISTANT, parallel_tool_calls="yes"),
        "parallel_tool_calls must be true or false, got string",
    ),
    (
        "functions not list",
        chat(USER, ASSISTANT, functions={}),
        'functions must be a list of {"name": ...} objects, got object',
    ),
    (
        "functions without name",
        chat(USER, ASSISTANT, functions=[{}]),
        'functions[0] needs a non-empty string "name"',
    ),
]


@pytest.mark.parametrize(
    ("record", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_chat_rule_reports_file_line_message(tmp_path: Path, record: Any, message: str) -> None:
    path, errors, _ = check(tmp_path, record)
    assert f"{path}:1: {message}" in errors, errors


DPO_CASES: list[tuple[str, Any, str]] = [
    (
        "missing preferred",
        dpo(preferred_output=None),
        'missing "preferred_output" (the better reply: [{"role": "assistant", "content": "..."}])',
    ),
    (
        "missing non-preferred",
        dpo(non_preferred_output=None),
        'missing "non_preferred_output" (the worse reply: [{"role": "assistant", "content": "..."}])',
    ),
    (
        "two outputs",
        dpo(preferred_output=[ASSISTANT, ASSISTANT]),
        "preferred_output must be a list with exactly one assistant message, got 2 messages",
    ),
    (
        "output not list",
        dpo(preferred_output=ASSISTANT),
        "preferred_output must be a list with exactly one assistant message, got object",
    ),
    (
        "output role",
        dpo(non_preferred_output=[USER]),
        "non_preferred_output[0].role must be \"assistant\", got 'user'",
    ),
    (
        "input not object",
        dpo(input=[USER]),
        '"input" must be an object with "messages" (the prompt: {"input": {"messages": [...]}})',
    ),
    (
        "missing input",
        dpo(input=None),
        'missing "input" (the prompt: {"input": {"messages": [...]}})',
    ),
    (
        "unknown key",
        dpo(chosen="x"),
        "unknown top-level key 'chosen' (allowed: input, non_preferred_output, preferred_output; remove it)",
    ),
    (
        "input unknown key",
        dpo(input={"messages": [USER], "x": 1}),
        "input has unknown key 'x' (allowed: messages, parallel_tool_calls, tools; remove it)",
    ),
    (
        "input empty",
        dpo(input={"messages": []}),
        "input.messages is empty (add at least a user and an assistant message)",
    ),
    (
        "bad message in input",
        dpo(input={"messages": [{"role": "bot", "content": "x"}]}),
        "input.messages[0].role 'bot' is not one of system, user, assistant, tool, function",
    ),
    (
        "input tools",
        dpo(input={"messages": [USER], "tools": [{"type": "x", "function": {"name": "f"}}]}),
        "input.tools[0].type must be \"function\", got 'x'",
    ),
]


@pytest.mark.parametrize(
    ("record", "message"), [c[1:] for c in DPO_CASES], ids=[c[0] for c in DPO_CASES]
)
def test_dpo_rule_reports_file_line_message(tmp_path: Path, record: Any, message: str) -> None:
    path, errors, _ = check(tmp_path, record, method="dpo")
    assert f"{path}:1: {message}" in errors, errors


WARNING_CASES: list[tuple[str, Any, str]] = [
    (
        "unmatched tool_call_id",
        chat(
            USER,
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "c2", "content": "4"},
            ASSISTANT,
        ),
        "messages[2].tool_call_id 'c2' matches no earlier tool call id (ids so far: c1)",
    ),
    (
        "nothing trained",
        chat(USER, {**ASSISTANT, "weight": 0}),
        'every assistant message has weight 0, so nothing in this example is trained (set "weight": 1 on at least one)',
    ),
    (
        "trailing user",
        chat(USER, ASSISTANT, USER),
        "ends with a user message, which is not trained (end with the assistant reply or remove it)",
    ),
    (
        "empty content",
        chat(USER, {"role": "assistant", "content": ""}),
        "messages[1] (assistant) has empty content",
    ),
    (
        "name pattern",
        chat({**USER, "name": "John Doe"}, ASSISTANT),
        "messages[0].name 'John Doe' should be 1-64 letters, digits, _ or - (providers may reject other names)",
    ),
    (
        "call of unknown tool",
        chat(
            USER,
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
            ASSISTANT,
            tools=[{"type": "function", "function": {"name": "mul"}}],
        ),
        "messages[1].tool_calls[0] calls 'add', which is not among the example's tools (mul)",
    ),
]


@pytest.mark.parametrize(
    ("record", "message"), [c[1:] for c in WARNING_CASES], ids=[c[0] for c in WARNING_CASES]
)
def test_warning_rule(tmp_path: Path, record: Any, message: str) -> None:
    path, errors, warnings = check(tmp_path, record)
    assert errors == []
    assert f"{path}:1: {message}" in warnings, warnings


def test_dpo_warnings(tmp_path: Path) -> None:
    path, errors, warnings = check(
        tmp_path, dpo(non_preferred_output=[{"role": "assistant", "content": "4"}]), "dpo"
    )
    assert errors == []
    assert warnings == [
        f"{path}:1: preferred_output and non_preferred_output are identical, so there is nothing to learn"
    ]
    path, errors, warnings = check(tmp_path, dpo(input={"messages": [USER, ASSISTANT]}), "dpo")
    assert errors == []
    assert warnings == [
        f"{path}:1: input.messages ends with an assistant message; the preferred and "
        "non-preferred outputs should answer the last user message"
    ]


VALID = [
    ("plain", chat({"role": "system", "content": "Be brief."}, USER, ASSISTANT)),
    (
        "tools and weights",
        chat(
            {"role": "system", "content": "You add.", "name": "setup"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Add 2 and 2"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
                ],
                "name": "alice",
            },
            {"role": "assistant", "content": None, "tool_calls": [CALL], "weight": 0},
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "4"}],
                "weight": 1,
                "name": "bot",
            },
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "add",
                        "description": "adds",
                        "parameters": {"type": "object"},
                    },
                }
            ],
            parallel_tool_calls=False,
        ),
    ),
    (
        "legacy functions",
        chat(
            {"role": "system", "content": "s"},
            USER,
            {"role": "assistant", "function_call": {"name": "add", "arguments": "{}"}},
            {"role": "function", "name": "add", "content": "4"},
            ASSISTANT,
            functions=[{"name": "add", "parameters": {}}],
        ),
    ),
]


@pytest.mark.parametrize("record", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_examples_have_no_problems(tmp_path: Path, record: Any) -> None:
    _, errors, warnings = check(tmp_path, record)
    assert errors == []
    assert warnings == []


def test_valid_dpo_example_has_no_problems(tmp_path: Path) -> None:
    _, errors, warnings = check(
        tmp_path, dpo(input={"messages": [{"role": "system", "content": "s"}, USER]}), "dpo"
    )
    assert (errors, warnings) == ([], [])


def test_unparseable_json_line(tmp_path: Path) -> None:
    path, errors, _ = check(tmp_path, '{"messages": [')
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:1: not valid JSON (")
    assert errors[0].endswith("each line must be one JSON object")
