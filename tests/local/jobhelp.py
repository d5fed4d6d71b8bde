"""Helpers for tests that drive real local jobs (background workers, real training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from anytune_local import processes
from anytune_local.provider import LocalProvider

from anytune.types import Event, Job

FAST_OPTIONS: dict[str, Any] = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "lora_r": 4,
    "lora_alpha": 8,
}
"""A job that trains a few steps and saves two checkpoints."""


def wait_until(
    provider: LocalProvider,
    job_id: str,
    done: Callable[[Job], bool],
    *,
    timeout: float = 120.0,
    interval: float = 0.1,
) -> Job:
    """Poll until ``done(job)``; fail with the worker log if it never happens."""
    deadline = time.monotonic() + timeout
    while True:
        job = provider.get_job(job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} stuck in {job.status}:\n{worker_log(provider, job_id)}")
        time.sleep(interval)


def wait_for_event(
    provider: LocalProvider,
    job_id: str,
    matches: Callable[[Event], bool],
    *,
    timeout: float = 120.0,
) -> Event:
    deadline = time.monotonic() + timeout
    while True:
        for event in provider.list_events(job_id):
            if matches(event):
                return event
        job = provider.get_job(job_id)
        if job.is_terminal or time.monotonic() > deadline:
            pytest.fail(
                f"job {job_id} ({job.status}, {job.error}) never had the expected event:\n"
                + "\n".join(e.message for e in provider.list_events(job_id))
                + "\n"
                + worker_log(provider, job_id)
            )
        time.sleep(0.1)


def worker_log(provider: LocalProvider, job_id: str) -> str:
    log = provider.store.job_dir(job_id) / "worker.log"
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no worker log)"


def step_events(events: list[Event]) -> list[Event]:
    return [e for e in events if e.metrics is not None and e.metrics.train_loss is not None]


def anytune_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180.0
) -> subprocess.CompletedProcess[str]:
    """Run the real ``anytune`` command in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "anytune.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else dict(os.environ),
        check=False,
    )


def cli_json(*args: str, env: dict[str, str] | None = None) -> Any:
    result = anytune_cli(*args, "--json", env=env)
    assert result.returncode == 0, f"anytune {' '.join(args)} failed:\n{result.stderr}"
    return json.loads(result.stdout)


def processes_of(job_id: str) -> list[psutil.Process]:
    """Every live process whose command line names the job (worker, trainer, torchrun ranks)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and job_id in " ".join(
                proc.info["cmdline"] or []
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def no_processes_left(job_id: str) -> bool:
    return processes.wait_for(lambda: not processes_of(job_id), timeout=15)
