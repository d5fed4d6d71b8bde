"""`anytune download JOB DIR`: a provider without ``download`` says so (no traceback, exit 1,
nothing written); the ray tests download a real adapter through it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from anytune.cli import cli
from anytune.testing import write_chat_jsonl


def test_download_on_a_provider_without_it_is_a_clear_error(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    runner = CliRunner()
    created = runner.invoke(
        cli, ["create", "-p", "memory", "-m", "base", "-t", str(train), "--json"]
    )
    assert created.exit_code == 0, created.output
    job_id = json.loads(created.stdout)["id"]
    result = runner.invoke(cli, ["download", job_id, str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "does not support downloading" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
