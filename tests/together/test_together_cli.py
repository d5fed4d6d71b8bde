"""`anytune run -p together` end to end through the real command line against the fake
server: validate (with the price), upload, create, wait, then status / events / checkpoints /
cancel, with the key absent from everything printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from anytune_together.testing import TEST_API_KEY, FakeTogetherServer

# A model with a price Together has published (catalog.PRICES_SOURCE), so the run is priced.
MODEL = "Qwen/Qwen3.5-9B"


def _anytune(env: dict[str, str], *args: str, code: int = 0) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "anytune.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == code, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout, result.stderr


def test_run_then_inspect(
    together_server: FakeTogetherServer, train: Path, tmp_path: Path, anytune_home: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ANYTUNE_HOME": str(anytune_home),
        "TOGETHER_API_KEY": TEST_API_KEY,
        "TOGETHER_BASE_URL": together_server.url,
    }
    out, err = _anytune(env, "run", str(train), "-p", "together", "-m", MODEL, "--interval", "0")
    lines = out.strip().splitlines()
    (job,) = together_server.jobs()
    assert lines[0] == job["id"]
    assert lines[-1] == job["model_output_name"]  # the fine-tuned model, alone, last
    # Checked and priced before anything was uploaded (Together's default: 1 epoch).
    assert "(estimate), 333 billed over 1 epoch (about $" in err
    assert err.index("Validated") < err.index("Uploaded")
    transcript = [out, err]
    for command in ("status", "events", "checkpoints"):
        shown, err = _anytune(env, command, job["id"], "--json")
        transcript += [shown, err]
    events = json.loads(transcript[-4])
    assert [e["message"] for e in events][-1] == "Fine-tuning job completed"
    assert [c["step"] for c in json.loads(transcript[-2])] == [2, 4]
    out, err = _anytune(env, "cancel", job["id"], code=1)
    assert "cannot cancel" in err and "succeeded" in err
    transcript += [out, err]
    assert all(TEST_API_KEY not in text for text in transcript)
    assert all(TEST_API_KEY[-12:] not in text for text in transcript)
