"""A job created on OpenAI is reported as created even when anytune's own index cannot be
written (issue 9 item 3): the id is printed, a warning names the file, exactly one job exists,
and `status -p openai` reaches it without the index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

MODEL = "gpt-4o-mini-2024-07-18"


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anytune.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("damage", ["corrupt", "directory"])
def test_create_on_openai_survives_a_broken_index(
    server: FakeOpenAIServer, train: Path, tmp_path: Path, anytune_home: Path, damage: str
) -> None:
    index_file = anytune_home / "index.sqlite3"
    if damage == "corrupt":
        index_file.write_bytes(b"not a database " * 200)
    else:
        index_file.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ANYTUNE_HOME": str(anytune_home),
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_KEY": KEY,
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "no-encodings"),
    }
    created = run_cli(env, "create", "-p", "openai", "-m", MODEL, "-t", str(train))
    assert created.returncode == 0, created.stdout + created.stderr
    job_id = created.stdout.strip()
    assert job_id.startswith("ftjob-") and "\n" not in job_id
    assert [job["id"] for job in server.jobs()] == [job_id], "exactly one billed job"
    assert "Warning:" in created.stderr and str(index_file) in created.stderr
    assert "unexpected" not in created.stderr and "Traceback" not in created.stderr
    assert KEY not in created.stdout + created.stderr

    status = run_cli(env, "status", job_id, "-p", "openai", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["id"] == job_id
