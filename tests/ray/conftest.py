"""Fixtures for the Ray provider's tests: a real Ray head on 127.0.0.1 for the session (its
dashboard serves the Job Submission REST API), the tiny model, and a provider per test with
its own storage and record."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from anytune.testing.data import write_chat_jsonl
from anytune.types import Event, Job

FAST_OPTIONS: dict[str, Any] = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "lora_r": 4,
    "lora_alpha": 8,
}
"""A job that trains a few steps and saves two checkpoints (as the local tests' jobs)."""


def until(provider: Any, job_id: str, done: Callable[[Job], bool], timeout: float = 240) -> Job:
    """Poll the job until ``done(job)``; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job: Job = provider.get_job(job_id)
        if done(job):
            return job
        assert time.monotonic() < deadline, f"{job_id} stuck in {job.status}"
        time.sleep(0.3)


def step_numbers(events: list[Event]) -> list[int]:
    """The steps the job reported, in order (its "Step N" events)."""
    return [
        e.metrics.step
        for e in events
        if e.metrics is not None and e.metrics.step is not None and e.message.startswith("Step")
    ]


def stop_live_jobs(provider: Any) -> None:
    """Cancel what a test left running (paused jobs hold nothing), then close the provider."""
    for job in provider.list_jobs(limit=100):
        if not job.is_terminal and str(job.status) != "paused":
            try:
                provider.cancel_job(job.id)
            except Exception as exc:  # pragma: no cover - diagnostics only
                print(f"cleanup: could not cancel {job.id}: {exc}", file=sys.stderr)
    provider.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str | None]:
    """A real S3-compatible server on 127.0.0.1 (moto's, in this process) for the session,
    or None when moto or s3fs is not installed. Its endpoint and (fake) credentials go into
    this process's environment before the Ray head starts, so Ray jobs see them as a node
    sees its own credentials: nothing travels in a job's runtime_env."""
    try:
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    import logging
    import socket

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings = {
        "AWS_ACCESS_KEY_ID": "anytune-test-key",
        "AWS_SECRET_ACCESS_KEY": "anytune-test-secret-0123456789",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    import fsspec.config

    fsspec.config.set_conf_env(fsspec.config.conf)
    try:
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        fsspec.config.conf.pop("s3", None)


@pytest.fixture(scope="session")
def ray_address(s3_endpoint: str | None) -> Iterator[str]:
    """A real Ray head on 127.0.0.1 (2 CPUs, 100 MB object store) for the session."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed: pip install 'ray[default]' (requirements-dev.txt)")
    from anytune_ray.localhead import LocalHead

    with LocalHead(num_cpus=2) as head:
        yield head.address


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anytune_local.recipe.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def ray_provider(ray_address: str, tmp_path: Path, anytune_home: Path) -> Iterator[Any]:
    from anytune_ray.provider import RayProvider

    provider = RayProvider(address=ray_address, storage=str(tmp_path / "storage"))
    yield provider
    stop_live_jobs(provider)


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)
