"""The README's quickstart, run as a newcomer runs it: ``bash examples/sentiment/run.sh`` in a
real shell with the installed ``anytune`` command. Every step must work, the README's result
(exact match 0.00 before, 0.96-0.99 after) must hold, and nothing but results is printed
(no tracebacks, no library warnings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_quickstart_runs_and_learns_the_task(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ANYTUNE_HOME": str(tmp_path / "home"),
        # the `anytune` of this environment, as after the README's set-up command
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("ANYTUNE_PROVIDER", None)
    result = subprocess.run(
        ["bash", str(ROOT / "examples" / "sentiment" / "run.sh"), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    tuned = re.search(r"^tuned .*: exact match ([0-9.]+)", result.stdout, re.M)
    baseline = re.search(r"^baseline .*: exact match ([0-9.]+)", result.stdout, re.M)
    assert tuned and baseline, result.stdout[-4000:]
    assert float(baseline.group(1)) == 0.0
    assert float(tuned.group(1)) >= 0.96
    assert result.stdout.rstrip().splitlines()[-1] == "positive"  # `anytune chat`'s reply

    work = tmp_path / "work"
    assert (work / "curve.png").stat().st_size > 0
    assert (work / "eval.md").read_text().strip()
    assert (work / "vllm" / "merged" / "model.safetensors").exists()
    assert (work / "ollama" / "Modelfile").exists()
    assert "Traceback" not in output
    assert "Warning" not in output, [line for line in output.splitlines() if "Warning" in line]
    assert not re.search(r"\d+/\d+ \[\d\d:\d\d", output)  # no library progress bars
