"""prepare_file: JSONL/CSV/TSV records to chat or DPO JSONL, splits, bad records, safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from anytune.dataset.prepare import prepare_file
from anytune.dataset.validate import validate_file
from anytune.errors import ConfigurationError, DatasetError


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == text.count("\n")  # no other line breaks for any reader
    return [json.loads(line) for line in text.split("\n") if line]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_to_chat_with_system_prompts(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"input": "2+2?", "output": "4"},
            {"input": "3+3?", "output": 6, "system_prompt": "Answer with digits."},
        ],
    )
    out = tmp_path / "train.jsonl"
    result = prepare_file(source, out, system_prompt="Be terse.")
    assert (result.records, result.written, result.duplicates_dropped) == (2, 2, 0)
    assert read_jsonl(out) == [
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Answer with digits."},
                {"role": "user", "content": "3+3?"},
                {"role": "assistant", "content": "6"},
            ]
        },
    ]
    assert validate_file(out).ok


def test_csv_with_bom_quoted_newlines_and_custom_columns(tmp_path: Path) -> None:
    source = tmp_path / "qa.csv"
    source.write_bytes(
        '\ufeffquestion,answer\r\n"multi\r\nline, with comma",yes\r\nplain,"no ""quotes"""\r\n'.encode()
    )
    out = tmp_path / "train.jsonl"
    result = prepare_file(source, out, fields={"input": "question", "output": "answer"})
    assert result.written == 2
    rows = read_jsonl(out)
    assert rows[0]["messages"] == [
        {"role": "user", "content": "multi\r\nline, with comma"},
        {"role": "assistant", "content": "yes"},
    ]
    assert rows[1]["messages"][1]["content"] == 'no "quotes"'


def test_tsv_by_extension(tmp_path: Path) -> None:
    source = tmp_path / "qa.tsv"
    source.write_text("input\toutput\nhi\thello\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    prepare_file(source, out)
    assert read_jsonl(out)[0]["messages"][1] == {"role": "assistant", "content": "hello"}


def test_bad_records_are_all_reported_with_lines_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "qa.csv"
    source.write_bytes(
        b'input,output\nok,fine\n"two\nlines",\n,x\nok2,fine2,extra\nbad\xffutf8,x\n'
    )
    out = tmp_path / "train.jsonl"
    with pytest.raises(DatasetError) as caught:
        prepare_file(source, out)
    assert caught.value.problems == [
        f"{source}:3: field 'output' is empty",
        f"{source}:5: field 'input' is empty",
        f"{source}:6: 3 fields, but the header has 2 (quote values that contain the delimiter or line breaks)",
        f"{source}:7: not valid UTF-8; save the file as UTF-8",
    ]
    assert "4 of 5 records cannot be converted; nothing was written" in caught.value.message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["qa.csv"]  # no temporary files left


def test_jsonl_bad_records(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"input": "a", "output": "b"}\n{"question": "a", "output": "b"}\nnot json\n[1]\n'
        '{"input": ["x"], "output": "b"}\n',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as caught:
        prepare_file(source, tmp_path / "o.jsonl")
    problems = caught.value.problems
    assert problems[0] == (
        f"{source}:2: missing field 'input' (the user message); this record has: question, "
        "output (choose the field with --input-field)"
    )
    assert problems[1].startswith(f"{source}:3: not valid JSON (")
    assert problems[2:] == [
        f"{source}:4: expected a JSON object with the record's fields",
        f"{source}:5: field 'input' must be text, got list",
    ]


def test_skip_invalid_writes_the_good_records(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"input": "a", "output": "b"}, {"input": "", "output": "b"}]
    )
    result = prepare_file(source, tmp_path / "o.jsonl", skip_invalid=True)
    assert (result.written, result.skipped_count) == (1, 1)
    assert [str(p) for p in result.skipped] == [f"{source}:2: field 'input' is empty"]


def test_missing_csv_column_is_one_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "qa.csv"
    source.write_text("q,a\nx,y\n", encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        prepare_file(source, tmp_path / "o.jsonl")
    assert caught.value.message == f"{source}:1: no column 'input', 'output' (columns: q, a)"
    assert caught.value.hint == "name the columns with --input-field COLUMN --output-field COLUMN"


def test_duplicates_are_dropped_unless_kept(tmp_path: Path) -> None:
    records = [
        {"input": "a", "output": "b"},
        {"input": "c", "output": "d"},
        {"input": "a", "output": "b"},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    result = prepare_file(source, tmp_path / "o.jsonl")
    assert (result.written, result.duplicates_dropped) == (2, 1)
    kept = prepare_file(source, tmp_path / "k.jsonl", keep_duplicates=True)
    assert (kept.written, kept.duplicates_dropped) == (3, 0)
    with pytest.raises(ConfigurationError, match="cannot be combined"):
        prepare_file(source, tmp_path / "x.jsonl", keep_duplicates=True, validation_split=0.5)


def split_records() -> list[dict[str, Any]]:
    records = [{"input": f"question {i}", "output": f"answer {i}"} for i in range(40)]
    # 15 prompts with 3 different replies each: a prompt group must stay on one side
    records += [
        {"input": f"shared {i}", "output": f"reply {j}"} for i in range(15) for j in range(3)
    ]
    records += [{"input": "question 7", "output": "answer 7"}] * 3  # exact duplicates
    return records


def test_validation_split_has_no_example_or_prompt_in_both(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", split_records())
    out = tmp_path / "train.jsonl"
    result = prepare_file(source, out, validation_split=0.25, seed=3)
    valid = tmp_path / "train.valid.jsonl"
    assert result.validation_output == valid
    assert result.duplicates_dropped == 3
    assert result.written + result.validation_written == 85
    assert 21 <= result.validation_written <= 23
    train_rows, valid_rows = read_jsonl(out), read_jsonl(valid)
    assert (len(train_rows), len(valid_rows)) == (result.written, result.validation_written)

    def prompts(rows: list[dict[str, Any]]) -> set[str]:
        return {json.dumps(r["messages"][:-1]) for r in rows}

    assert prompts(train_rows).isdisjoint(prompts(valid_rows))
    report = validate_file(out, validation_path=valid)
    assert report.ok
    assert report.overlap is not None
    assert (report.overlap.examples, report.overlap.prompts) == (0, 0)
    assert report.train.duplicates == 0


def test_split_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", split_records())
    runs = []
    for seed, name in [(3, "a"), (3, "b"), (4, "c")]:
        prepare_file(source, tmp_path / f"{name}.jsonl", validation_split=0.2, seed=seed)
        runs.append((tmp_path / f"{name}.valid.jsonl").read_bytes())
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_dpo_records(tmp_path: Path) -> None:
    source = tmp_path / "prefs.csv"
    source.write_text("q,good,bad\nWhat is 2+2?,4,5\nSame?,x,x\n", encoding="utf-8")
    out = tmp_path / "dpo.jsonl"
    with pytest.raises(DatasetError) as caught:
        prepare_file(
            source, out, dpo=True, fields={"prompt": "q", "chosen": "good", "rejected": "bad"}
        )
    assert caught.value.problems == [
        f"{source}:3: chosen and rejected are identical, so there is nothing to learn"
    ]
    prepare_file(
        source,
        out,
        dpo=True,
        fields={"prompt": "q", "chosen": "good", "rejected": "bad"},
        system_prompt="S",
        skip_invalid=True,
    )
    assert read_jsonl(out) == [
        {
            "input": {
                "messages": [
                    {"role": "system", "content": "S"},
                    {"role": "user", "content": "What is 2+2?"},
                ]
            },
            "preferred_output": [{"role": "assistant", "content": "4"}],
            "non_preferred_output": [{"role": "assistant", "content": "5"}],
        }
    ]
    assert validate_file(out, method="dpo").ok


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"input": "a", "output": "b"}, {"input": "c", "output": "d"}]
    )
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    with pytest.raises(ConfigurationError, match="already exists"):
        prepare_file(source, out)
    assert out.read_text() == "precious\n"
    valid = tmp_path / "o.valid.jsonl"
    valid.write_text("also precious\n")
    with pytest.raises(ConfigurationError, match=r"o\.valid\.jsonl already exists"):
        prepare_file(source, tmp_path / "new.jsonl", validation_split=0.5, validation_output=valid)
    assert not (tmp_path / "new.jsonl").exists()
    prepare_file(source, out, force=True)
    assert len(read_jsonl(out)) == 2
    with pytest.raises(ConfigurationError, match="is the input file"):
        prepare_file(source, source, force=True)


def test_format_detection(tmp_path: Path) -> None:
    source = tmp_path / "data.txt"
    source.write_text('{"input": "a", "output": "b"}\n')
    with pytest.raises(ConfigurationError, match="cannot tell the format"):
        prepare_file(source, tmp_path / "o.jsonl")
    assert prepare_file(source, tmp_path / "o.jsonl", fmt="jsonl").written == 1


def test_split_keeps_lines_with_unusual_line_breaks_whole(tmp_path: Path) -> None:
    records = [{"input": f"q{i}\u2028x\u0085y", "output": f"a{i}\rb\nc"} for i in range(10)]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "o.jsonl"
    result = prepare_file(source, out, validation_split=0.3)
    rows = read_jsonl(out) + read_jsonl(tmp_path / "o.valid.jsonl")
    assert len(rows) == 10 == result.written + result.validation_written
    assert sorted(r["messages"][1]["content"] for r in rows) == sorted(r["output"] for r in records)
