"""The chat training format, checked one example at a time.

``check_example(record)`` recognises a chat example (``{"messages": [...]}``) or a DPO
preference example (``{"input": {...}, "preferred_output": [...], "non_preferred_output":
[...]}``) and returns every problem it has, each as "what is wrong (how to fix it)". The
rules follow OpenAI's fine-tuning format (the de-facto standard that anytune's providers
accept); provider-specific limits (minimum examples, token limits) live in
``anytune.provider.DatasetRules`` and are applied by ``anytune.dataset.validate``.
"""

from __future__ import annotations

from typing import Any

from anytune.dataset.checker import ROLES, Checker, ExampleCheck, type_name

CHAT = "chat"
DPO = "dpo"
UNKNOWN = "unknown"

CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
DPO_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})


def detect_kind(record: Any) -> str:
    """``"chat"``, ``"dpo"`` or ``"unknown"`` for one parsed line."""
    if not isinstance(record, dict):
        return UNKNOWN
    if "messages" in record:
        return CHAT
    if not DPO_KEYS.isdisjoint(record):
        return DPO
    return UNKNOWN


def check_example(record: Any) -> ExampleCheck:
    """Check one parsed line against the chat or DPO format, whichever it is.

    >>> check_example({"messages": [{"role": "user", "content": "Hi"}]}).errors
    ['no assistant message (add the reply to learn: {"role": "assistant", "content": "..."})']
    """
    if not isinstance(record, dict):
        return ExampleCheck(
            UNKNOWN,
            errors=[
                f"expected a JSON object, got {type_name(record)} "
                '(each line must be one example like {"messages": [...]})'
            ],
        )
    kind = detect_kind(record)
    result = ExampleCheck(kind)
    checker = Checker(result)
    if kind == CHAT:
        _check_chat(record, checker)
    elif kind == DPO:
        _check_dpo(record, checker)
    else:
        checker.unknown_keys(record, CHAT_KEYS, "")
        result.errors.append(
            'missing "messages" (each line must be {"messages": [{"role": ..., "content": ...}, ...]})'
        )
    return result


class ExampleRefused(ValueError):
    """Raised by a provider's ``TokenCounter`` for an example it cannot train as written
    (e.g. "model M's chat template does not render X"); ``validate`` reports the message at
    the example's line, as it is."""


def example_problem(record: Any, kind: str) -> str | None:
    """The first error of one line for a file of ``kind`` (``CHAT`` or ``DPO``), or None.

    The same rules as ``check_example``, for consumers that stop at a line's first problem
    (a provider's worker re-checking a file before training).
    """
    check = check_example(record)
    if check.errors:
        more = len(check.errors) - 1
        return check.errors[0] + (f" (and {more} more problem(s) on this line)" if more else "")
    if check.kind != kind:
        if kind == DPO:
            return (
                'this is a chat example, but the job is DPO: each line needs "input", '
                '"preferred_output" and "non_preferred_output"'
            )
        return 'this is a DPO example, but the job is supervised: each line needs "messages"'
    return None


def _check_chat(record: dict[str, Any], checker: Checker) -> None:
    if len(record) > 1 and not CHAT_KEYS.issuperset(record):
        checker.unknown_keys(record, CHAT_KEYS, "")
    if len(record) > 1:
        checker.definitions(record, "")
    assistants, trained, last_role = checker.messages(record["messages"], "messages")
    if checker.result.messages == 0:
        return
    if assistants == 0:
        checker.errors.append(
            'no assistant message (add the reply to learn: {"role": "assistant", "content": "..."})'
        )
    elif trained == 0:
        checker.warnings.append(
            "every assistant message has weight 0, so nothing in this example is trained "
            '(set "weight": 1 on at least one)'
        )
    if assistants and last_role is not None and last_role != "assistant":
        checker.warnings.append(
            f"ends with a {last_role} message, which is not trained (end with the assistant "
            "reply or remove it)"
        )


def _check_dpo(record: dict[str, Any], checker: Checker) -> None:
    errors = checker.errors
    checker.unknown_keys(record, DPO_KEYS, "")
    prompt = record.get("input")
    if not isinstance(prompt, dict) or "messages" not in prompt:
        errors.append(
            '"input" must be an object with "messages" (the prompt: {"input": {"messages": [...]}})'
            if "input" in record
            else 'missing "input" (the prompt: {"input": {"messages": [...]}})'
        )
    else:
        checker.unknown_keys(prompt, DPO_INPUT_KEYS, "input")
        checker.definitions(prompt, "input.")
        _, _, last_role = checker.messages(prompt["messages"], "input.messages")
        if last_role == "assistant":
            checker.warnings.append(
                "input.messages ends with an assistant message; the preferred and "
                "non-preferred outputs should answer the last user message"
            )
    outputs = []
    for key in ("preferred_output", "non_preferred_output"):
        output = record.get(key)
        if output is None:
            what = "better" if key == "preferred_output" else "worse"
            errors.append(
                f'missing "{key}" (the {what} reply: [{{"role": "assistant", "content": "..."}}])'
            )
            continue
        if not isinstance(output, list) or len(output) != 1:
            got = f"{len(output)} messages" if isinstance(output, list) else type_name(output)
            errors.append(f"{key} must be a list with exactly one assistant message, got {got}")
            continue
        checker.result.messages += 1
        role = checker.message(output[0], f"{key}[0]")
        if role is not None and role != "assistant":
            errors.append(f'{key}[0].role must be "assistant", got {role!r}')
        outputs.append(output[0])
    if len(outputs) == 2 and outputs[0] == outputs[1]:
        checker.warnings.append(
            "preferred_output and non_preferred_output are identical, so there is nothing to learn"
        )


__all__ = [
    "CHAT",
    "DPO",
    "ROLES",
    "UNKNOWN",
    "ExampleCheck",
    "ExampleRefused",
    "check_example",
    "detect_kind",
    "example_problem",
]
