"""nproc_per_node > 1 runs the same training under PyTorch's own launcher (torchrun): here
two CPU processes on gloo, as a user with two GPUs would run two, started from a directory
of hostile modules that none of the processes may import."""

from __future__ import annotations

from pathlib import Path

import pytest
from anytune_local.provider import LocalProvider
from jobhelp import (
    FAST_OPTIONS,
    no_processes_left,
    processes_of,
    step_events,
    wait_until,
    worker_log,
)

from anytune.types import JobSpec, JobStatus

pytestmark = pytest.mark.slow


def test_two_process_torchrun_job_succeeds(
    local_provider: LocalProvider,
    tiny_model: Path,
    train_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Started from a directory whose modules would shadow what torchrun's ranks import.
    hostile, marker = tmp_path / "project", tmp_path / "MARKER"
    hostile.mkdir()
    for name in ("json", "secrets", "torch", "anytune_local"):
        (hostile / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    monkeypatch.chdir(hostile)
    file_id = local_provider.upload_file(train_file).id
    options = {**FAST_OPTIONS, "nproc_per_node": 2}
    job = local_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file_id, options=options)
    )

    final = wait_until(local_provider, job.id, lambda j: j.is_terminal, timeout=240)

    log = worker_log(local_provider, job.id)
    assert final.status == JobStatus.SUCCEEDED, f"{final.error}\n{log}"
    messages = [e.message for e in local_provider.list_events(job.id)]
    assert any("with torchrun (2 processes)" in m for m in messages), messages
    assert any("2 process" in m for m in messages if m.startswith("Training started")), messages
    # Only rank 0 reports: one event per step, not one per process.
    steps = [e.metrics.step for e in step_events(local_provider.list_events(job.id)) if e.metrics]
    assert steps == sorted(set(steps)) and steps[-1] == 4
    assert Path(final.fine_tuned_model or "", "adapter_config.json").is_file()
    assert no_processes_left(job.id), [p.cmdline() for p in processes_of(job.id)]
    assert not marker.exists(), marker.read_text()


def test_a_killed_rank_is_named_as_the_cause_not_the_others_broken_connection(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    import os
    import signal

    from jobhelp import wait_for_event

    file_id = local_provider.upload_file(train_file).id
    options = {**FAST_OPTIONS, "nproc_per_node": 2, "max_steps": 400, "save_steps": 1000}
    job = local_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file_id, options=options)
    )
    wait_for_event(
        local_provider, job.id, lambda e: bool(e.metrics and e.metrics.step), timeout=240
    )
    ranks = {p.environ().get("RANK"): p for p in processes_of(job.id) if "RANK" in p.environ()}
    assert set(ranks) == {"0", "1"}, ranks
    os.kill(ranks["1"].pid, signal.SIGKILL)  # as the out-of-memory killer would

    final = wait_until(local_provider, job.id, lambda j: j.is_terminal, timeout=120)

    assert final.status == JobStatus.FAILED, final
    assert final.error is not None
    message = final.error.message
    assert "training process of rank 1 (of 2) was killed by SIGKILL" in message, message
    assert "out of memory" in message
    assert "gloo" not in message.lower() and "ChildFailedError" not in message, message
    assert no_processes_left(job.id), [p.cmdline() for p in processes_of(job.id)]
