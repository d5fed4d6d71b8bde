"""``anytune files list`` / ``anytune files delete``, in-process against the memory provider,
through the console script's entry point (errors → messages and exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from anytune.cli import cli
from anytune.testing import write_chat_jsonl


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def upload(path: Path) -> str:
    result = invoke("upload", str(path), "-p", "memory", "--skip-validation")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_list_then_delete(tmp_path: Path) -> None:
    first = upload(write_chat_jsonl(tmp_path / "a.jsonl", 3))
    second = upload(write_chat_jsonl(tmp_path / "b.jsonl", 4))

    listed = invoke("files", "list", "-p", "memory", "--json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [f["id"] for f in data] == [second, first]  # newest first
    assert {f["filename"] for f in data} == {"a.jsonl", "b.jsonl"}

    human = invoke("files", "list", "-p", "memory", "--limit", "1")
    assert human.exit_code == 0
    assert second in human.stdout and first not in human.stdout
    assert "b.jsonl" in human.stdout

    deleted = invoke("files", "delete", first, "-p", "memory")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.strip() == first  # the id alone on stdout
    assert "Deleted" in deleted.stderr
    after = json.loads(invoke("files", "list", "-p", "memory", "--json").stdout)
    assert [f["id"] for f in after] == [second]

    as_json = invoke("files", "delete", second, "-p", "memory", "--json")
    assert json.loads(as_json.stdout) == {"id": second, "provider": "memory", "deleted": True}


def test_purpose_filter_and_empty_list(tmp_path: Path) -> None:
    upload(write_chat_jsonl(tmp_path / "a.jsonl", 3))
    result = invoke("files", "list", "-p", "memory", "--purpose", "batch")
    assert result.exit_code == 0
    assert "No files with purpose batch." in result.stdout
    assert (
        json.loads(invoke("files", "list", "-p", "memory", "--purpose", "batch", "--json").stdout)
        == []
    )


def test_deleting_an_unknown_file_is_a_clear_error() -> None:
    result = invoke("files", "delete", "file-nope", "-p", "memory")
    assert result.exit_code == 1
    assert "file-nope" in result.stderr
    assert "Traceback" not in result.output


def test_a_provider_is_required() -> None:
    result = invoke("files", "list")
    assert result.exit_code == 2
    assert "--provider" in result.output


def test_help_lists_the_files_commands() -> None:
    result = invoke("files", "--help")
    assert result.exit_code == 0
    assert "list" in result.stdout and "delete" in result.stdout
    assert "files" in invoke("--help").stdout
