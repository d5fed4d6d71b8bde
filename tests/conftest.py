from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# No test may reach the network or a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def anytune_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own ANYTUNE_HOME, so no test touches the user's real state."""
    home = tmp_path_factory.mktemp("anytune-home")
    monkeypatch.setenv("ANYTUNE_HOME", str(home))
    monkeypatch.delenv("ANYTUNE_PROVIDER", raising=False)
    yield home


Outcome = tuple[int, str, str]
"""A process's exit code, stdout and stderr."""

_RELEASE = """
import pathlib as _pathlib, sys as _sys, time as _time

def released():
    # Wait for the test to release every process at once (after their imports).
    gate = _pathlib.Path(_sys.argv.pop(1))
    while not gate.exists():
        _time.sleep(0.001)

"""


@pytest.fixture
def at_once(tmp_path: Path) -> Callable[[str, list[list[str]]], list[Outcome]]:
    """``at_once(script, argvs)``: ``python -c script ARGV...`` for each argv, started
    together and released at the same moment, when the script calls ``released()`` (after
    its imports): many processes opening one file at once. Each one's outcome, in order."""

    def run(script: str, argvs: list[list[str]]) -> list[Outcome]:
        gate = tmp_path / f"release-{len(list(tmp_path.glob('release-*')))}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RELEASE + script, str(gate), *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for argv in argvs
        ]
        time.sleep(1.5)  # every process imported and waiting (a later one just races less)
        gate.touch()
        outcomes = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            outcomes.append((proc.returncode, out, err))
        return outcomes

    return run
