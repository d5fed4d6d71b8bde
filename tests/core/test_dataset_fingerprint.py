"""Fingerprints: equal JSON values (any key order) match; different values do not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from anytune.dataset.fingerprint import example_fingerprint, prompt_fingerprint

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
EXAMPLES: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "weight": 0},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": "a"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
            {"role": "assistant", "content": "a"},
        ]
    },
    {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    },
    {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    },
]


def reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


@pytest.mark.parametrize("example", EXAMPLES)
def test_key_order_does_not_matter(example: dict[str, Any]) -> None:
    other = json.loads(json.dumps(reordered(example), indent=1))
    assert list(other) != list(example) or len(example) == 1
    assert example_fingerprint(other) == example_fingerprint(example)


def test_different_examples_differ() -> None:
    prints = {example_fingerprint(e) for e in EXAMPLES}
    assert len(prints) == len(EXAMPLES)
    swapped = {
        "messages": [{"role": "assistant", "content": "q"}, {"role": "user", "content": "a"}]
    }
    assert example_fingerprint(swapped) != example_fingerprint(EXAMPLES[0])


def test_prompt_fingerprint_ignores_the_reply() -> None:
    first, weighted = EXAMPLES[0], EXAMPLES[1]
    other_reply = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "zzz"}]
    }
    assert prompt_fingerprint(first, "chat") == prompt_fingerprint(other_reply, "chat")
    assert prompt_fingerprint(first, "chat") == prompt_fingerprint(weighted, "chat")
    assert prompt_fingerprint(first, "chat") != prompt_fingerprint(
        EXAMPLES[4], "chat"
    )  # tools differ
    dpo = EXAMPLES[5]
    assert prompt_fingerprint(dpo, "dpo") == prompt_fingerprint(
        {**dpo, "preferred_output": []}, "dpo"
    )
