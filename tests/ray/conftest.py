"""Fixtures for the Ray provider's tests: a real Ray head on 127.0.0.1 for the session (its
dashboard serves the Job Submission REST API), the tiny model, and a provider per test with
its own storage and record."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anytune.testing.data import write_chat_jsonl

FAST_OPTIONS: dict[str, Any] = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "lora_r": 4,
    "lora_alpha": 8,
}
"""A job that trains a few steps and saves two checkpoints (as the local tests' jobs)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """``ray start --head --block`` in its own process group, stopped by that group's id."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed: pip install 'ray[default]' (requirements-dev.txt)")
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip(f"the ray command is not next to {sys.executable}")
    dashboard = _free_port()
    # Ray's socket paths must stay short: a short temp dir, not pytest's.
    temp = tempfile.mkdtemp(prefix="atray-", dir="/tmp")
    env = {**os.environ, "PATH": f"{ray_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    log = open(Path(temp) / "ray-start.log", "wb")  # noqa: SIM115 -- open for the session
    head = subprocess.Popen(
        [
            str(ray_cli), "start", "--head", "--block", "--num-cpus", "2",
            "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(dashboard), "--port", str(_free_port()),
            "--node-ip-address", "127.0.0.1",
            "--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", temp,
            "--disable-usage-stats",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if head.poll() is not None:
                pytest.fail(f"ray start exited: {(Path(temp) / 'ray-start.log').read_text()}")
            try:
                if httpx.get(f"{address}/api/jobs/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Ray dashboard did not come up in 120 s")
            time.sleep(0.5)
        yield address
    finally:
        _stop_group(head)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _stop_group(head: subprocess.Popen[bytes]) -> None:
    for signum, patience in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(head.pid, signum)
        except ProcessLookupError:
            return
        try:
            head.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            continue
    # --block's children may outlive it for a moment: the group id still names them.
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anytune_local.recipe.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def ray_provider(ray_address: str, tmp_path: Path, anytune_home: Path) -> Iterator[Any]:
    from anytune_ray.provider import RayProvider

    provider = RayProvider(address=ray_address, storage=str(tmp_path / "storage"))
    yield provider
    for job in provider.list_jobs(limit=100):
        if not job.is_terminal and str(job.status) != "paused":
            try:
                provider.cancel_job(job.id)
            except Exception as exc:  # pragma: no cover - diagnostics only
                print(f"cleanup: could not cancel {job.id}: {exc}", file=sys.stderr)
    provider.close()


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)
