"""validate's advice about whether fine-tuning fits the data: hints, never errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from anytune.cli import cli
from anytune.dataset.validate import validate_file


def write(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
        for q, a in pairs
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def varied(n: int) -> list[tuple[str, str]]:
    return [
        (f"Question {i} about topic {i * 7}?", f"A free answer number {i}, {i * i}.")
        for i in range(n)
    ]


def test_varied_data_gets_no_advice(tmp_path: Path) -> None:
    assert validate_file(write(tmp_path / "t.jsonl", varied(80))).advice == []


def test_few_examples(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path / "t.jsonl", varied(12)))
    assert report.ok and report.advice[0].startswith("only 12 examples")


def test_near_duplicates_up_to_case_and_punctuation(tmp_path: Path) -> None:
    pairs = varied(60) + [(q.upper() + "!!", a.lower()) for q, a in varied(60)[:10]]
    report = validate_file(write(tmp_path / "t.jsonl", pairs))
    assert report.train.duplicates == 0  # not exact duplicates
    assert any(h.startswith("10 of 70 examples repeat another") for h in report.advice)


def test_a_handful_of_labels_is_a_classifier(tmp_path: Path) -> None:
    pairs = [
        (
            f"Review {i}: {'good' if i % 3 else 'bad'} {i}",
            ["Positive.", "negative", "neutral"][i % 3],
        )
        for i in range(90)
    ]
    report = validate_file(write(tmp_path / "t.jsonl", pairs))
    (hint,) = report.advice
    assert "one of 3 labels" in hint and "consider a small model" in hint
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 0 and "Advice: every answer is one of 3 labels" in result.output
    data = json.loads(
        CliRunner().invoke(cli, ["validate", str(tmp_path / "t.jsonl"), "--json"]).output
    )
    assert data["advice"] == [hint]


def test_many_distinct_answers_are_not_labels(tmp_path: Path) -> None:
    pairs = [(f"q{i} {i * 3}", f"label{i % 11}") for i in range(90)]
    assert not any("labels" in h for h in validate_file(write(tmp_path / "t.jsonl", pairs)).advice)


def test_near_duplicates_the_same_with_and_without_non_ascii_text(tmp_path: Path) -> None:
    """The key has a fast ASCII path and a regex path for other text: the same answer."""
    base = [(f"Café n°{i}: what is {i} + {i}?", f"It is {2 * i}.") for i in range(60)]
    repeats = [(q.upper().replace(":", " —"), a.lower()) for q, a in base[:10]]
    report = validate_file(write(tmp_path / "t.jsonl", base + repeats))
    assert any(h.startswith("10 of 70 examples repeat another") for h in report.advice)
    ascii_base = [(f"Cafe no {i}: what is {i} + {i}?", f"It is {2 * i}.") for i in range(60)]
    ascii_repeats = [(q.upper().replace(":", " -"), a.lower()) for q, a in ascii_base[:10]]
    report = validate_file(write(tmp_path / "a.jsonl", ascii_base + ascii_repeats))
    assert any(h.startswith("10 of 70 examples repeat another") for h in report.advice)
