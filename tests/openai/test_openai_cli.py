"""End to end through the real command line (subprocesses) against the fake server: file to
fine-tuned model with `anytune run`, then status / events / checkpoints / create / cancel /
wait on its jobs, with the key absent from everything printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer
from click.testing import CliRunner, Result

from anytune.cli import cli

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def cli_env(server: FakeOpenAIServer, tmp_path: Path, anytune_home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ANYTUNE_HOME": str(anytune_home),
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_KEY": KEY,
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "no-encodings"),
    }


def anytune(env: dict[str, str], *args: str, code: int = 0) -> str:
    """The real console entry point in a subprocess; returns stdout + stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "anytune.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == code, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout + "\n--stderr--\n" + result.stderr


class InProcess:
    """The same CLI in-process (importing openai once, not per command), with the env set."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.transcript: list[str] = []

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)
        self.transcript += [result.stdout, result.stderr]
        assert result.exit_code == code, f"{args}: {result.stdout}\n{result.stderr}"
        return result


def test_run_to_succeeded_then_inspect_cancel_and_wait(
    cli_env: dict[str, str], server: FakeOpenAIServer, train: Path
) -> None:
    ran = anytune(
        cli_env, "run", str(train), "--provider", "openai", "--model", MODEL, "--interval", "0"
    )
    stdout, stderr = ran.split("\n--stderr--\n")
    lines = stdout.strip().splitlines()
    job_id = lines[0]
    (created,) = server.jobs()
    assert job_id == created["id"]
    assert lines[-1] == f"ft:{MODEL}:anytune-fake::{job_id[-8:]}"  # the model, alone, last
    assert "Step 6/6" in stderr
    assert "Validated" in stderr and "estimate" in stderr  # checked offline first, labelled

    run = InProcess(cli_env)
    status = json.loads(run("status", job_id, "--json").stdout)
    assert status["status"] == "succeeded" and status["provider"] == "openai"

    events = json.loads(run("events", job_id, "--json").stdout)
    assert [e["id"] for e in events] == [e["id"] for e in server.api.jobs[job_id].events]

    checkpoints = json.loads(run("checkpoints", job_id, "--json").stdout)
    assert [c["step"] for c in checkpoints] == [2, 4, 6]

    second = json.loads(
        run("create", "-p", "openai", "-m", MODEL, "-t", str(train), "--json").stdout
    )
    assert server.count("POST /v1/files") == 1  # the same file was not uploaded again
    cancelled = json.loads(run("cancel", second["id"], "--json").stdout)
    assert cancelled["status"] == "cancelled"
    run("wait", second["id"], code=3)

    listed = json.loads(run("list", "--provider", "openai", "--json").stdout)
    assert [j["id"] for j in listed] == [second["id"], job_id]
    assert all(KEY not in text for text in [ran, *run.transcript])


def test_training_not_available_exits_1_with_the_next_step(
    cli_env: dict[str, str], server: FakeOpenAIServer, train: Path
) -> None:
    server.training_available = False
    run = InProcess(cli_env)
    result = run("create", "-p", "openai", "-m", MODEL, "-t", str(train), code=1)
    assert "no longer able to create new fine-tuning training jobs" in result.stderr
    assert "--provider local" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.jobs() == []


def test_debug_output_never_shows_a_key_passed_as_an_option(tmp_path: Path) -> None:
    """An Azure-style hex key (no sk- prefix, not in the environment, so the CLI's generic
    redaction cannot know it) echoed in full by the server, with --debug tracebacks on."""
    hex_key = "0123456789abcdef0123456789abcdef"
    with FakeOpenAIServer(api_key="another-key-entirely", echo_key_in_errors=True) as hostile:
        result = CliRunner().invoke(
            cli,
            [
                "--debug",
                "list",
                "--provider",
                "azure",
                "-P",
                f"endpoint={hostile.root_url}",
                "-P",
                f"api_key={hex_key}",
                "--json",
            ],
            env={"ANYTUNE_DEBUG": "1"},
        )
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    assert "Traceback" in output and "Incorrect API key provided" in output
    assert "AZURE_OPENAI_API_KEY" in output
    assert hex_key not in output
