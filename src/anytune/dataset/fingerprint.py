"""Compact fingerprints of examples, for duplicates and train/validation overlap.

Two examples get the same fingerprint when they are the same JSON value, whatever the key
order or whitespace on disk. A fingerprint is Python's 64-bit keyed SipHash of a frozen
(hashable) copy of the example: fast (no re-serialisation), small (one int per example),
and only meaningful inside one process, which is all that comparing files in one run needs.
The chance that two of ten million different examples collide is about 1 in 400,000.
"""

from __future__ import annotations

from typing import Any

from anytune.dataset.rules import DPO

_DICT = object()
"""Marks a frozen dict, so that {"a": 1} and [["a", 1]] differ."""


def freeze(value: Any) -> Any:
    """A hashable value equal for equal JSON values (dict key order does not matter)."""
    kind = type(value)
    if kind is dict:
        return (_DICT, *sorted([(k, freeze(v)) for k, v in value.items()]))
    if kind is list:
        return tuple([freeze(v) for v in value])
    return value


def _messages(messages: list[Any]) -> int:
    """Hash of a message list. Equal lists always take the same path, so equal lists get
    equal hashes; the fast path covers lists of plain ``{"role", "content"}`` messages."""
    try:
        return hash(
            tuple(
                [
                    (m["role"], m["content"]) if len(m) == 2 else (_DICT, *sorted(m.items()))
                    for m in messages
                ]
            )
        )
    except (TypeError, KeyError, AttributeError):  # nested values, other keys, non-objects
        return hash(tuple([freeze(m) for m in messages]))


def example_fingerprint(record: dict[str, Any]) -> int:
    """64-bit fingerprint of one example (any JSON object)."""
    if len(record) == 1:
        messages = record.get("messages")
        if type(messages) is list:
            return hash(("messages", _messages(messages)))
    parts: list[Any] = [_DICT]
    for key in sorted(record):
        value = record[key]
        if key == "messages" and type(value) is list:
            parts.append((key, _messages(value)))
        else:
            parts.append((key, freeze(value)))
    return hash(tuple(parts))


def prompt_fingerprint(record: dict[str, Any], kind: str) -> int:
    """Fingerprint of an example's prompt: a DPO ``input``, or a chat example's messages
    before its last assistant message, with its tool definitions."""
    if kind == DPO:
        return hash(("dpo", freeze(record.get("input"))))
    messages = record.get("messages")
    if type(messages) is not list:
        return hash(("chat", freeze(messages)))
    end = len(messages)
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if type(m) is dict and m.get("role") == "assistant":
            end = i
            break
    tools = freeze(record.get("tools")), freeze(record.get("functions"))
    return hash(("chat", _messages(messages[:end]), tools))


__all__ = ["example_fingerprint", "freeze", "prompt_fingerprint"]
