"""`anytune download JOB DIR` reaches Together's and Fireworks' ``download`` through the core
contract (``Provider.download``), the API keys never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from anytune_fireworks.testing import TEST_ACCOUNT, FakeFireworksServer
from anytune_fireworks.testing import TEST_API_KEY as FW_KEY
from anytune_together.testing import TEST_API_KEY as TG_KEY
from anytune_together.testing import FakeTogetherServer
from click.testing import CliRunner

from anytune.cli import cli
from anytune.testing import write_chat_jsonl


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_download_from_fireworks_and_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    with FakeFireworksServer() as fw, FakeTogetherServer() as tg:
        monkeypatch.setenv("FIREWORKS_API_KEY", FW_KEY)
        monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", TEST_ACCOUNT)
        monkeypatch.setenv("FIREWORKS_BASE_URL", fw.url)
        monkeypatch.setenv("TOGETHER_API_KEY", TG_KEY)
        monkeypatch.setenv("TOGETHER_BASE_URL", tg.url)
        for name, model, server in (
            ("fireworks", "llama-v3p1-8b-instruct", fw),
            ("together", "Qwen/Qwen3-8B", tg),
        ):
            code, out, err = _run("create", "-p", name, "-m", model, "-t", str(train))
            assert code == 0, err
            job_id = out.strip()
            server.advance(job_id, 20)
            code, out, err = _run("download", job_id, str(tmp_path / name))
            assert code == 0, err
            assert f"Downloaded {job_id}'s fine-tuned model to {tmp_path / name}" in out
            assert any((tmp_path / name).rglob("*"))
            for secret in (FW_KEY, TG_KEY, TEST_ACCOUNT):
                assert secret not in out + err
