"""Fireworks' datasets report no size (issue 15, item 7): a dataset read back has
``bytes=None`` rather than a size parsed out of its id, the upload (which knows the size)
reports it, and the CLI says "size unknown" / "?" instead of failing or inventing one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anytune_fireworks import FireworksProvider
from anytune_fireworks.testing import TEST_ACCOUNT, TEST_API_KEY, FakeFireworksServer
from click.testing import CliRunner

from anytune.cli import cli
from anytune.types import FileObject


def test_a_dataset_read_back_has_no_size(fireworks: FireworksProvider, fw_train: Path) -> None:
    uploaded = fireworks.upload_file(fw_train)
    assert uploaded.bytes == fw_train.stat().st_size
    fetched = fireworks.get_file(uploaded.id)
    assert fetched.bytes is None
    assert [f.bytes for f in fireworks.list_files()] == [None]
    assert FileObject.from_dict(json.loads(json.dumps(fetched.to_dict()))) == fetched


def test_the_cli_shows_an_unknown_size(
    fireworks_server: FakeFireworksServer, fw_train: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREWORKS_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", TEST_ACCOUNT)
    monkeypatch.setenv("FIREWORKS_BASE_URL", fireworks_server.url)
    monkeypatch.setenv("ANYTUNE_HOME", str(fw_train.parent / "home"))
    runner = CliRunner()
    uploaded = runner.invoke(cli, ["upload", str(fw_train), "-p", "fireworks"])
    assert uploaded.exit_code == 0, uploaded.output
    file_id = uploaded.stdout.strip()
    listed = runner.invoke(cli, ["files", "list", "-p", "fireworks"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if line.startswith(file_id))
    assert " ? B " in row
    as_json = runner.invoke(cli, ["files", "list", "-p", "fireworks", "--json"])
    assert json.loads(as_json.stdout)[0]["bytes"] is None
