"""`anytune serve` on the command line: refusals, key handling, the missing extra, and
`anytune run -p openai` through the server ending with a fine-tuned model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2
from click.testing import CliRunner
from servehelp import KEY_A, Server, server_env

from anytune.cli import cli
from anytune.testing.data import write_chat_jsonl


def test_refuses_a_public_host_without_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--provider", "memory", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "without API keys" in result.output and "Traceback" not in result.output


def test_bad_key_file_is_a_clear_error(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("alpha short\n")
    result = CliRunner().invoke(cli, ["serve", "--provider", "memory", "--api-key-file", str(keys)])
    assert result.exit_code != 0
    assert f"{keys}:1" in result.output and "too short" in result.output
    assert "short" not in result.output.replace("too short", "")
    missing = CliRunner().invoke(
        cli, ["serve", "--provider", "memory", "--api-key-file", str(tmp_path / "none")]
    )
    assert missing.exit_code != 0 and "cannot read" in missing.output


def test_missing_extra_names_the_install_command() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; from anytune.cli import main; "
        "main(['serve', '--provider', 'memory'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "pip install 'anytune[serve]'" in result.stderr and "Traceback" not in result.stderr


def test_cli_module_imports_no_web_framework() -> None:
    code = (
        "import sys, anytune.cli.serve; print('fastapi' in sys.modules, 'uvicorn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False"


def test_without_keys_loopback_only_and_any_key_works(tmp_path: Path) -> None:
    server = Server(["--provider", "memory"], server_env(tmp_path), tmp_path / "log").start()
    try:
        response = httpx2.get(f"{server.url}/files", headers={"Authorization": "Bearer anything"})
        assert response.status_code == 200
        assert "no API keys configured" in server.output()
        assert "127.0.0.1" in server.output()
    finally:
        server.stop()


def test_keys_are_never_stored_or_logged(memory_server: Server) -> None:
    httpx2.get(f"{memory_server.url}/files", headers={"Authorization": f"Bearer {KEY_A}"})
    httpx2.get(
        f"{memory_server.url}/files", headers={"Authorization": "Bearer not-a-real-key-123456"}
    )
    data_dir = Path(memory_server.env["ANYTUNE_HOME"]) / "serve"
    for path in [memory_server.log, *data_dir.rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            assert KEY_A.encode() not in content and b"not-a-real-key" not in content, path


def test_anytune_run_through_the_server(memory_server: Server, tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    env = {**os.environ, "OPENAI_API_KEY": KEY_A, "ANYTUNE_HOME": str(tmp_path / "client-home")}
    result = subprocess.run(
        [
            sys.executable, "-m", "anytune.cli", "run", str(train), "-p", "openai",
            "-P", f"base_url={memory_server.url}", "-m", "base-model", "--interval", "0.1",
            "--timeout", "60",
        ],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("ft:base-model:alpha::")
