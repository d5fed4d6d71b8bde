"""One owner for the chat-format rules: the core's checker, which ``anytune validate``, the
local worker's file check and the local recipe all apply; and the reader's bound on one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from anytune.dataset import reader
from anytune.dataset.rules import CHAT, DPO, check_example, example_problem

LEGACY = {
    "functions": [{"name": "get_weather", "parameters": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": "{}"},
        },
        {"role": "function", "name": "get_weather", "content": "SUNNY"},
        {"role": "assistant", "content": "Sunny."},
    ],
}
DEVELOPER = {
    "messages": [
        {"role": "developer", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
}
REASONING = {
    "messages": [
        {"role": "user", "content": "3*7?"},
        {"role": "assistant", "content": "21", "reasoning_content": "Three sevens."},
    ]
}


@pytest.mark.parametrize(
    ("record", "accepted"), [(LEGACY, True), (DEVELOPER, False), (REASONING, True)]
)
def test_every_consumer_applies_the_same_rules(record: dict[str, Any], accepted: bool) -> None:
    # Before, a `function` message passed validate and failed the worker, `developer` the
    # other way round: the three copies of the rules disagreed.
    pytest.importorskip("anytune_local")
    from anytune_local.recipe.data import _chat_example
    from anytune_local.validation import shape_problem

    core = not check_example(record).errors
    worker = shape_problem(record, "supervised") is None
    recipe = _chat_example(record, 1)[1] is None
    assert core == worker == recipe == accepted


def test_reasoning_content_must_be_a_string() -> None:
    record = json.loads(json.dumps(REASONING))
    record["messages"][1]["reasoning_content"] = ["not", "text"]
    assert "reasoning_content must be a string" in (example_problem(record, CHAT) or "")


def test_example_problem_names_the_wrong_kind() -> None:
    assert "job is DPO" in (example_problem(REASONING, DPO) or "")
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away"}],
    }
    assert example_problem(dpo, DPO) is None
    assert "job is supervised" in (example_problem(dpo, CHAT) or "")


def test_an_absurdly_long_line_is_one_bad_line_and_is_never_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "train.jsonl"
    good = json.dumps(REASONING)
    path.write_text(f"{good}\n" + json.dumps({"x": "y" * 5000}) + f"\n{good}\n" + "z" * 3000)
    lines = list(reader.iter_lines(path))
    assert [line.lineno for line in lines] == [1, 2, 3, 4]
    assert lines[0].record == lines[2].record == REASONING
    for bad in (lines[1], lines[3]):
        assert bad.record is None and bad.error is not None
        assert "over the limit" in bad.error and "split or shorten it" in bad.error
    assert lines[1].size == 5010
