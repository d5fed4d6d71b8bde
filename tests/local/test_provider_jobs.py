"""Real background jobs of the local provider: cancel, pause, a worker killed with SIGKILL
then resumed, and two jobs submitted at once training one after the other while other
processes read the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from anytune_local.provider import LocalProvider
from jobhelp import (
    FAST_OPTIONS,
    no_processes_left,
    processes_of,
    step_events,
    wait_for_event,
    wait_until,
    worker_log,
)

from anytune.types import Event, JobSpec, JobStatus

pytestmark = pytest.mark.slow

LONG_OPTIONS: dict[str, Any] = {**FAST_OPTIONS, "max_steps": 100_000, "save_steps": 2}
"""Trains until stopped; saves a checkpoint every 2 steps."""


def _create(provider: LocalProvider, model: Path, train: Path, options: dict[str, Any]) -> str:
    file_id = provider.upload_file(train).id
    return provider.create_job(JobSpec(model=str(model), training_file=file_id, options=options)).id


def _is_checkpoint(event: Event) -> bool:
    return event.message.startswith("Checkpoint saved")


def test_cancel_stops_training_promptly_and_leaves_no_process(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    job_id = _create(local_provider, tiny_model, train_file, LONG_OPTIONS)
    wait_for_event(local_provider, job_id, lambda e: bool(step_events([e])))
    record = local_provider.store.get_job(job_id)
    assert record is not None and record.training_pid is not None

    job = local_provider.cancel_job(job_id)

    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None and job.fine_tuned_model is None
    assert no_processes_left(job_id), [p.cmdline() for p in processes_of(job_id)]
    assert local_provider.list_events(job_id)[-1].message == "Job cancelled."
    assert local_provider.cancel_job(job_id).status == JobStatus.CANCELLED  # idempotent


def test_worker_killed_with_sigkill_is_detected_then_resumed_to_success(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    options = {**FAST_OPTIONS, "max_steps": 30, "save_steps": 4}
    job_id = _create(local_provider, tiny_model, train_file, options)

    # 1. The training process dies as under the kernel's OOM killer: the worker records it.
    wait_for_event(local_provider, job_id, _is_checkpoint)
    record = local_provider.store.get_job(job_id)
    assert record is not None and record.training_pid is not None
    os.kill(record.training_pid, signal.SIGKILL)
    failed = wait_until(local_provider, job_id, lambda j: j.is_terminal)
    assert failed.error is not None and failed.error.code == "worker_died", failed.error
    assert "killed by SIGKILL" in failed.error.message
    assert "ran out of memory" in failed.error.message
    local_provider.resume_job(job_id)

    # 2. The worker itself is killed (as by `kill -9`, or a reboot): noticed on the next look.
    before = len(local_provider.list_events(job_id))
    wait_for_event(
        local_provider,
        job_id,
        lambda e: _is_checkpoint(e) and int(e.id.removeprefix("ftevent-")) > before,
    )
    record = local_provider.store.get_job(job_id)
    assert record is not None and record.worker_pid is not None and record.status == "running"
    os.kill(record.worker_pid, signal.SIGKILL)

    failed = wait_until(local_provider, job_id, lambda j: j.is_terminal)

    assert failed.status == JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "worker_died"
    assert f"worker process {record.worker_pid}" in failed.error.message
    assert f"anytune resume {job_id}" in failed.error.message
    assert "checkpoint at step" in failed.error.message
    # The training process died with its worker (no orphan keeps training).
    assert no_processes_left(job_id), [p.cmdline() for p in processes_of(job_id)]
    killed_at = max(c.step for c in local_provider.list_checkpoints(job_id))
    before = len(local_provider.list_events(job_id))

    # 3. Resume continues from the last checkpoint to success.
    resumed = local_provider.resume_job(job_id)
    assert resumed.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert resumed.error is None
    final = wait_until(local_provider, job_id, lambda j: j.is_terminal)

    assert final.status == JobStatus.SUCCEEDED, worker_log(local_provider, job_id)
    after = local_provider.list_events(job_id)[before:]
    assert any(f"checkpoint-{killed_at}" in e.message for e in after if "resuming" in e.message)
    steps = [e.metrics.step for e in step_events(after) if e.metrics]
    assert steps and steps[0] == killed_at + 1 and steps[-1] == 30, steps
    assert Path(final.fine_tuned_model or "", "adapter_config.json").is_file()


def test_pause_saves_a_checkpoint_and_resume_continues_from_it(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    options = {**FAST_OPTIONS, "max_steps": 30, "save_steps": 100}
    job_id = _create(local_provider, tiny_model, train_file, options)
    wait_for_event(local_provider, job_id, lambda e: bool(step_events([e])))

    local_provider.pause_job(job_id)
    paused = wait_until(local_provider, job_id, lambda j: j.status == "paused" or j.is_terminal)

    assert paused.status == JobStatus.PAUSED, worker_log(local_provider, job_id)
    checkpoints = local_provider.list_checkpoints(job_id)
    assert checkpoints, "pause saves a checkpoint"
    paused_at = checkpoints[-1].step
    assert no_processes_left(job_id)
    before = len(local_provider.list_events(job_id))

    local_provider.resume_job(job_id)
    final = wait_until(local_provider, job_id, lambda j: j.is_terminal)

    assert final.status == JobStatus.SUCCEEDED, worker_log(local_provider, job_id)
    after = local_provider.list_events(job_id)[before:]
    steps = [e.metrics.step for e in step_events(after) if e.metrics]
    assert steps and steps[0] == paused_at + 1 and steps[-1] == 30, steps


def test_two_jobs_submitted_at_once_train_one_after_the_other_while_readers_poll(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path, local_home: Path
) -> None:
    first = _create(local_provider, tiny_model, train_file, FAST_OPTIONS)
    second = _create(local_provider, tiny_model, train_file, FAST_OPTIONS)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = LocalProvider(home=local_home)  # its own connections, like another CLI call
        try:
            while not stop.wait(0.05):
                for job_id in (first, second):
                    reader.get_job(job_id)
                    reader.list_events(job_id)
                reader.list_jobs()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    script = (
        "import sys\n"
        "from anytune_local.provider import LocalProvider\n"
        "p = LocalProvider(home=sys.argv[1])\n"
        "for _ in range(20):\n"
        "    [p.list_events(j.id) for j in p.list_jobs()]\n"
    )
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(local_home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        jobs = [wait_until(local_provider, j, lambda j: j.is_terminal) for j in (first, second)]
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert not errors, errors
    outputs = [r.communicate(timeout=120) for r in readers]
    assert [r.returncode for r in readers] == [0, 0], [err for _, err in outputs]
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]

    def event_number(job_id: str, prefix: str) -> int:
        found = [e for e in local_provider.list_events(job_id) if e.message.startswith(prefix)]
        assert found, f"{job_id} has no event starting {prefix!r}"
        return int(found[0].id.removeprefix("ftevent-"))

    # Event ids grow across the whole store: the second job started after the first ended.
    assert event_number(second, "Job started") > event_number(first, "Job succeeded")
    queued = [e.message for e in local_provider.list_events(second) if "queued" in e.message]
    assert queued and "behind 1 other job" in queued[0]
