"""validate_file: whole-file behaviour, statistics, provider rules and the cost estimate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from anytune.dataset.tokens import EstimateTokenCounter, estimate_tokens
from anytune.dataset.validate import validate_file
from anytune.errors import ConfigurationError, DatasetError
from anytune.provider import DatasetRules, Price, TokenCounter


def ex(question: str, answer: str, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def dpo_ex(question: str, good: str, bad: str) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": question}]},
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


def write(path: Path, *records: Any) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


class WordCounter(TokenCounter):
    """An exact counter for tests: one token per whitespace-separated word of content."""

    exact = True
    description = "words (test counter)"

    def count(self, example: Mapping[str, Any]) -> int:
        if "boom" in json.dumps(example):
            raise ValueError("disallowed special token 'boom'")
        return sum(len(str(m.get("content", "")).split()) for m in example["messages"])


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    body = "\r\n".join(json.dumps(ex(f"q{i}", "a")) for i in range(3)) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    report = validate_file(path)
    assert report.ok, [str(p) for p in report.errors]
    assert report.train.examples == 3
    assert report.train.bytes == path.stat().st_size


def test_invalid_utf8_line_is_reported_and_the_rest_checked(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        json.dumps(ex("a", "b")).encode()
        + b"\n"
        + b'{"messages": "\xff\xfe"}\n'
        + json.dumps(ex("c", "d")).encode()
        + b"\n"
    )
    report = validate_file(path)
    assert [str(p) for p in report.errors] == [
        f"{path}:2: not valid UTF-8 (byte 15); save the file as UTF-8"
    ]
    assert report.train.examples == 3
    assert report.train.counted_examples == 2
    assert not report.ok


def test_every_problem_is_reported_at_once_with_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.jsonl",
        ex("ok", "fine"),
        {"messages": [{"role": "user", "content": "q"}]},
        "",  # blank line: skipped, but counted in line numbers
        "not json",
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "weight": 3},
            ]
        },
        [1],
    )
    report = validate_file(path)
    assert sorted({p.line for p in report.errors if p.line}) == [2, 4, 5, 6]
    assert report.error_count == 4
    assert report.train.examples == 5
    assert report.train.invalid_examples == 4


def test_problem_list_is_capped_but_all_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", *[{"messages": []} for _ in range(10)])
    report = validate_file(path, max_problems=3)
    assert report.error_count == 10
    assert [p.line for p in report.errors] == [1, 2, 3]
    text = "\n".join(report.format(max_problems=2))
    assert "Errors (10):" in text
    assert "... and 8 more" in text
    assert "NOT USABLE: 10 errors" in text


def test_dpo_file_with_supervised_method_says_use_dpo(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", *[dpo_ex(f"q{i}", "good", "bad") for i in range(3)])
    report = validate_file(path, method="supervised")
    assert [str(p) for p in report.errors] == [
        f"{path}:1: line 1 is a DPO preference example (3 lines like it); use --method dpo"
    ]
    ok = validate_file(path, method="dpo")
    assert ok.ok
    assert ok.train.format == "dpo"
    assert ok.train.messages == 9


def test_chat_line_in_dpo_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", dpo_ex("q", "good", "bad"), ex("q", "a"))
    report = validate_file(path, method="dpo")
    assert [str(p) for p in report.errors] == [
        f"{path}:2: line 2 is a chat (supervised) example, but the method is dpo; use "
        "--method supervised, or give each line input, preferred_output and non_preferred_output"
    ]
    assert report.train.format == "mixed"


def test_duplicates_ignore_key_order_and_whitespace(tmp_path: Path) -> None:
    first = (
        '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
    )
    same = '{"messages":[{"content":"q","role":"user"},{"content":"a","role":"assistant"}]}'
    path = write(
        tmp_path / "t.jsonl", first, ex("other", "x"), same, first, ex("q", "a", system="s")
    )
    report = validate_file(path)
    assert report.train.duplicates == 2
    assert report.train.duplicate_pairs == [(1, 3), (1, 4)]
    assert (
        "  duplicate examples: 2 (line 3 repeats line 1, line 4 repeats line 1)" in report.format()
    )
    assert (
        f"{path}: 2 duplicate examples (line 3 repeats line 1, line 4 repeats line 1); remove "
        "them unless you mean to give those examples more weight"
    ) in report.warnings


def test_contamination_between_train_and_validation(tmp_path: Path) -> None:
    train = write(tmp_path / "train.jsonl", ex("q1", "a1"), ex("q2", "a2"), ex("q3", "a3"))
    valid = write(
        tmp_path / "valid.jsonl",
        ex("q9", "a9"),
        '{"messages":[{"content":"q2","role":"user"},{"content":"a2","role":"assistant"}]}',
        ex("q3", "a different answer"),
    )
    report = validate_file(train, validation_path=valid)
    assert report.overlap is not None
    assert (report.overlap.examples, report.overlap.pairs) == (1, [(2, 2)])
    assert (report.overlap.prompts, report.overlap.prompt_pairs) == (1, [(3, 3)])
    assert report.ok  # contamination is a warning, not an error
    assert [str(p) for p in report.warnings] == [
        f"{valid}: 1 validation example also in the training file, so validation loss "
        "overstates quality (remove them from one file)"
    ]
    text = report.format()
    assert "  identical examples in both files (contamination): 1 (train:2 ~ valid:2)" in text
    assert "  same prompt in both files, different reply: 1 (train:3 ~ valid:3)" in text


def test_validation_file_gets_the_same_rules(tmp_path: Path) -> None:
    train = write(tmp_path / "train.jsonl", ex("q1", "a1"))
    valid = write(
        tmp_path / "valid.jsonl", ex("q2", "a2"), {"messages": [{"role": "user", "content": "q"}]}
    )
    report = validate_file(train, validation_path=valid)
    assert [str(p) for p in report.errors] == [
        f'{valid}:2: no assistant message (add the reply to learn: {{"role": "assistant", "content": "..."}})'
    ]
    assert report.validation is not None
    assert report.validation.examples == 2


def test_statistics_with_builtin_estimate(tmp_path: Path) -> None:
    records = [ex("abcd", "abcdefgh"), ex("a" * 40, "b" * 4, system="sys"), ex("x", "y")]
    path = write(tmp_path / "t.jsonl", *records)
    report = validate_file(path)
    counts = [estimate_tokens(r) for r in records]
    assert counts[0] == 3 + 1 + 3 + 2 + 3
    stats = report.train
    assert (stats.tokens_total, stats.tokens_min, stats.tokens_max) == (
        sum(counts),
        min(counts),
        max(counts),
    )
    assert stats.tokens_mean == pytest.approx(sum(counts) / 3)
    assert stats.messages == 7
    assert stats.missing_system == 2
    assert report.tokens_exact is False
    assert report.token_counter == EstimateTokenCounter.description
    assert any(line.startswith("  tokens (estimate: ") for line in report.format())
    assert [str(p) for p in report.warnings] == [
        f"{path}: 2 of 3 examples have no system message; use the same system message in "
        "training as you will at inference"
    ]
    assert report.cost is None  # no provider, epochs auto: nothing to multiply by


def test_estimate_counts_non_ascii_by_bytes() -> None:
    ascii_only = estimate_tokens(ex("abcdefgh", "x"))
    accented = estimate_tokens(ex("é" * 8, "x"))  # 16 UTF-8 bytes
    assert accented - ascii_only == 2


def rules(**overrides: Any) -> DatasetRules:
    base: dict[str, Any] = {
        "min_examples": 3,
        "max_tokens_per_example": 5,
        "token_counter": WordCounter(),
        "price": Price(usd_per_million_tokens=2.0, as_of="2026-11-01", source="test table"),
        "auto_epochs": lambda n: 4 if n < 10 else 1,
        "notes": ("auto epochs: 4 below 10 examples",),
    }
    base.update(overrides)
    return DatasetRules(**base)


def test_provider_rules_limits_exact_tokens_and_cost(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.jsonl",
        ex("one two", "three"),
        ex("one two three four", "five six seven"),
        ex("a", "b"),
    )
    report = validate_file(path, rules=rules(), provider="testprov", model="m1")
    assert report.ok
    assert report.tokens_exact
    assert report.train.tokens_total == 3 + 7 + 2
    assert report.train.truncated == 1
    assert report.train.billable_tokens == 3 + 5 + 2
    assert [str(p) for p in report.warnings] == [
        f"{path}:2: 7 tokens, over the limit of 5 per example: the provider truncates it "
        "(shorten it or split it into several examples)"
    ]
    cost = report.cost
    assert cost is not None
    assert (cost.epochs, cost.tokens_per_epoch, cost.billed_tokens) == (4, 10, 40)
    assert cost.epochs_how == "auto: testprov uses 4 for 3 examples"
    assert cost.usd == pytest.approx(40 * 2.0 / 1e6)
    assert cost.price_as_of == "2026-11-01"
    text = "\n".join(report.format())
    assert "tokens (exact: words (test counter))" in text
    assert (
        "Training tokens: 10 per epoch x 4 epochs (auto: testprov uses 4 for 3 examples) = 40 billed tokens"
        in text
    )
    assert "per 1M tokens (price as of 2026-11-01, test table)" in text
    assert "Note: auto epochs: 4 below 10 examples" in text


def test_explicit_epochs_and_estimate_label(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("one two", "three"), ex("a", "b"), ex("c", "d"))
    report = validate_file(path, rules=rules(token_counter=None), n_epochs=2)
    assert report.cost is not None
    assert (report.cost.epochs, report.cost.epochs_how) == (2, "as requested")
    assert report.cost.tokens_exact is False
    assert report.cost.billed_tokens == 2 * report.train.billable_tokens
    assert "Training tokens (estimate):" in "\n".join(report.format())


def test_auto_epochs_unknown_without_rule(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), ex("c", "d"), ex("e", "f"))
    report = validate_file(path, rules=rules(auto_epochs=None, notes=()))
    assert report.cost is None
    assert report.notes == [
        "n_epochs auto: the provider chooses the epochs; give --n-epochs N for a billed-token total"
    ]


def test_minimum_examples_and_unsupported_method(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", dpo_ex("q", "a", "b"))
    report = validate_file(path, rules=rules(), method="dpo", provider="testprov")
    messages = [str(p) for p in report.errors]
    assert (
        f"{path}: provider 'testprov' does not support method 'dpo' (supported: supervised)"
        in messages
    )
    assert f"{path}: 1 example, but testprov needs at least 3 (add more examples)" in messages


def test_token_counter_refusing_a_line_is_that_line_s_error(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), ex("boom", "b"), ex("c", "d"))
    report = validate_file(path, rules=rules())
    assert [str(p) for p in report.errors] == [
        f"{path}:2: tokens could not be counted: disallowed special token 'boom'"
    ]
    assert report.train.counted_examples == 2


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n\n")
    report = validate_file(empty)
    assert [str(p) for p in report.errors] == [f"{empty}: no examples: the file is empty"]
    with pytest.raises(DatasetError, match="no such file"):
        validate_file(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="not a file"):
        validate_file(tmp_path)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="unknown method"):
        validate_file("x.jsonl", method="rlhf")
    with pytest.raises(ConfigurationError, match="n_epochs"):
        validate_file("x.jsonl", n_epochs=0)


def test_raise_for_errors_and_json_shape(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), {"messages": []})
    report = validate_file(path)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= {
        "ok",
        "errors",
        "warnings",
        "stats",
        "cost",
        "error_count",
        "warning_count",
    }
    assert data["ok"] is False
    assert data["errors"] == [
        {
            "file": str(path),
            "line": 2,
            "message": "messages is empty (add at least a user and an assistant message)",
        }
    ]
    assert data["stats"]["train"]["examples"] == 2
    assert data["stats"]["tokens"]["exact"] is False
    with pytest.raises(DatasetError) as caught:
        report.raise_for_errors()
    assert caught.value.problems == [
        f"{path}:2: messages is empty (add at least a user and an assistant message)"
    ]
    validate_file(write(tmp_path / "ok.jsonl", ex("a", "b"))).raise_for_errors()


def test_package_exports_resolve_lazily() -> None:
    import anytune.dataset as dataset

    assert sorted(dataset.__all__) == sorted(dataset._EXPORTS)
    for name in dataset.__all__:
        assert getattr(dataset, name) is not None
    assert dataset.validate_file is validate_file
    with pytest.raises(AttributeError):
        _ = dataset.nothing_here


def test_summary_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("one two", "three"), ex("a", "b"), ex("c", "d"))
    report = validate_file(path, rules=rules(), n_epochs=None)
    assert (
        report.summary_line() == "3 examples, 7 tokens, 28 billed over 4 epochs (about $0.00), ok"
    )
    bad = validate_file(write(tmp_path / "b.jsonl", ex("a", "b"), {"messages": []}))
    assert (
        bad.summary_line()
        == f"2 examples, {estimate_tokens(ex('a', 'b'))} tokens (estimate), 1 error"
    )


def test_problem_is_its_text() -> None:
    import pickle

    from anytune.dataset.report import Problem

    problem = Problem("t.jsonl", 3, "messages is empty")
    assert problem == "t.jsonl:3: messages is empty"
    assert "\n".join([problem, Problem("t.jsonl", None, "no examples")]) == (
        "t.jsonl:3: messages is empty\nt.jsonl: no examples"
    )
    assert (problem.file, problem.line, problem.message) == ("t.jsonl", 3, "messages is empty")
    copy = pickle.loads(pickle.dumps(problem))
    assert (copy, copy.line) == (problem, 3)
    assert json.loads(json.dumps(problem.to_dict())) == {
        "file": "t.jsonl",
        "line": 3,
        "message": "messages is empty",
    }
