"""Together's own file check runs in `anytune validate -p together` and in the check before
upload (issue 15, item 1), as ``file:line: message`` problems; options are checked as create
checks them (item 2)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from anytune.cli import cli
from anytune.testing import write_chat_jsonl


def test_validate_runs_togethers_file_check(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.txt", 12)  # valid JSONL, wrong name for Together
    plain = CliRunner().invoke(cli, ["validate", str(train)])
    assert plain.exit_code == 0, plain.output
    result = CliRunner().invoke(cli, ["validate", str(train), "-p", "together"])
    assert result.exit_code == 1, result.output
    assert f"{train}: Together takes files named *.jsonl" in result.stdout
    upload = CliRunner().invoke(cli, ["upload", str(train), "-p", "together"])
    assert upload.exit_code == 1 and "nothing was uploaded" in upload.stderr
    assert "Together takes files named *.jsonl" in upload.stderr


def test_validate_refuses_options_as_create_does(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    args = ["validate", str(train), "-p", "together", "-m", "Qwen/Qwen3.5-9B"]
    refused = CliRunner().invoke(cli, [*args, "-o", "lora=false", "-o", "lora_r=8"])
    assert refused.exit_code == 2, refused.output
    assert "only apply to LoRA" in refused.stderr
    fine = CliRunner().invoke(cli, [*args, "-o", "lora_r=8"])
    assert fine.exit_code == 0, fine.output
