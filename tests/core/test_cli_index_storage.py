"""The job index is a cache: a broken one never turns a created job into a failure, and its
storage errors name the file and say what to do (issue 9, items 3, 8 and 11)."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anytune.cli import cli
from anytune.errors import StorageError
from anytune.index import JobIndex, storage_error
from anytune.testing import InMemoryProvider, write_chat_jsonl


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


def create(train: Path) -> Result:
    return invoke("create", "-p", "memory", "-m", "base", "-t", str(train))


def assert_created_despite_the_index(result: Result, index_file: Path) -> str:
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert job_id.startswith("ftjob-") and "\n" not in job_id  # the id, alone
    assert [j.id for j in InMemoryProvider().list_jobs()] == [job_id]  # exactly one job
    assert "Warning:" in result.stderr and str(index_file) in result.stderr
    assert "unexpected" not in result.output and "Traceback" not in result.output
    return job_id


def test_corrupt_index_create_prints_the_id_and_warns(train: Path, anytune_home: Path) -> None:
    index_file = anytune_home / "index.sqlite3"
    index_file.write_bytes(b"this is not a database, just garbage " * 100)
    job_id = assert_created_despite_the_index(create(train), index_file)
    assert "corrupt" in create(train).stderr
    # `status -p` works without the index
    status = invoke("status", job_id, "-p", "memory", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["id"] == job_id
    # without -p the index is needed: a clear message naming the file and the fix
    lookup = invoke("status", job_id)
    assert lookup.exit_code == 1
    assert str(index_file) in lookup.stderr and "corrupt" in lookup.stderr
    assert "mv " in lookup.stderr and "--provider" in lookup.stderr
    assert "unexpected" not in lookup.stderr


def test_home_that_is_a_file_create_still_succeeds(
    train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("oops")
    monkeypatch.setenv("ANYTUNE_HOME", str(home))
    result = create(train)
    assert_created_despite_the_index(result, home)
    assert "is a file" in result.stderr and "ANYTUNE_HOME" in result.stderr
    listed = invoke("list")
    assert listed.exit_code == 0  # nothing recorded, nothing broken


def test_unopenable_index_create_still_succeeds(train: Path, anytune_home: Path) -> None:
    index_file = anytune_home / "index.sqlite3"
    index_file.mkdir()  # a directory where the database file should be: unwritable for anyone
    result = create(train)
    assert_created_despite_the_index(result, index_file)
    listed = invoke("list")
    assert listed.exit_code == 1
    assert str(index_file) in listed.stderr and "unexpected" not in listed.stderr


def test_disk_full_message_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "full.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA max_page_count = 2")
    conn.execute("CREATE TABLE t (x BLOB)")
    with pytest.raises(sqlite3.DatabaseError) as info:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    conn.close()
    error = storage_error(path, info.value)
    assert isinstance(error, StorageError) and error.path == str(path)
    assert "disk is full" in error.message and str(path) in error.message
    assert error.hint and "free some disk space" in error.hint


def test_index_files_are_private_and_urls_lose_their_credentials(anytune_home: Path) -> None:
    anytune_home.rmdir()  # let anytune create it
    index = JobIndex()
    assert index.record(
        "ftjob-1",
        "openai",
        connection={
            "base_url": "https://user:s3cret-pass@example.test/v1?api-key=abcdef123&x=1",
            "home": Path("/data"),
        },
    )
    assert stat.S_IMODE(anytune_home.stat().st_mode) == 0o700
    for file in anytune_home.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    raw = (anytune_home / "index.sqlite3").read_bytes()
    wal = anytune_home / "index.sqlite3-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"s3cret" not in raw and b"abcdef123" not in raw
    (entry,) = index.lookup("ftjob-1")
    assert entry.connection == {"base_url": "https://example.test/v1?x=1", "home": "/data"}


def test_an_existing_world_readable_index_is_tightened(anytune_home: Path) -> None:
    path = anytune_home / "index.sqlite3"
    JobIndex(path).record("ftjob-1", "memory")
    path.chmod(0o644)
    JobIndex(path).update_status("ftjob-1", "memory", "running")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cancel_and_wait_keep_the_index_current(train: Path) -> None:
    job_id = create(train).stdout.strip()
    assert invoke("cancel", job_id).exit_code == 0
    listed = json.loads(invoke("list", "--json").stdout)
    assert listed[0]["last_status"] == "cancelled"
    failing = invoke(
        "create", "-p", "memory", "-m", "b", "-t", str(train), "-o", "fail=bad_data"
    ).stdout.strip()
    assert invoke("wait", failing, "--interval", "0").exit_code == 1
    by_id = {j["id"]: j for j in json.loads(invoke("list", "--json").stdout)}
    assert by_id[failing]["last_status"] == "failed"


def test_read_only_message_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "ro.sqlite3"
    JobIndex(path).record("ftjob-1", "memory")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # what a read-only home gives
    with pytest.raises(sqlite3.DatabaseError) as info:
        conn.execute("UPDATE jobs SET last_status = 'x'")
    conn.close()
    error = storage_error(path, info.value)
    assert "read-only or permission denied" in error.message and str(path) in error.message
    assert error.hint and "ANYTUNE_HOME" in error.hint
