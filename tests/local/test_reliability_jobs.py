"""Reliability of real local jobs, part 2: a store lock held during training, a worker killed
before it starts, failed jobs resumed from their newest intact checkpoint (the final one
included: no step past max_steps), damaged checkpoints skipped, checkpoint retention.

Every scenario checks that no step and no checkpoint is lost or recorded twice. Part 1
(storage, ids, modes) is ``test_reliability.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from anytune_local.provider import LocalProvider
from anytune_local.store import LOCK_TIMEOUT_ENV
from jobhelp import FAST_OPTIONS, step_events, wait_for_event, wait_until, worker_log

from anytune.errors import ConflictError
from anytune.types import Event, Job, JobSpec, JobStatus

pytestmark = pytest.mark.slow


def _run(
    provider: LocalProvider, model: Path, train: Path, options: dict[str, Any], **spec: Any
) -> Job:
    file_id = provider.upload_file(train).id
    return provider.create_job(
        JobSpec(model=str(model), training_file=file_id, options=options, **spec)
    )


def _steps(events: list[Event]) -> list[int]:
    return [e.metrics.step for e in step_events(events) if e.metrics and e.metrics.step]


def _succeed(provider: LocalProvider, job_id: str) -> Job:
    final = wait_until(provider, job_id, lambda j: j.is_terminal)
    assert final.status == JobStatus.SUCCEEDED, f"{final.error}\n{worker_log(provider, job_id)}"
    return final


def _fail_after_training(provider: LocalProvider, job_id: str, code: str) -> None:
    """As if the worker had failed after its last checkpoint (e.g. saving the adapter)."""
    assert provider.store.transition(
        job_id,
        ("succeeded",),
        "failed",
        error_code=code,
        error_message="simulated failure after the last checkpoint",
        fine_tuned_model=None,
        event="Job failed: simulated",
        level="error",
    )


def test_a_store_lock_held_during_training_delays_reports_but_loses_none(
    local_provider: LocalProvider,
    tiny_model: Path,
    train_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "1")  # the worker's writes give up on a lock after 1 s
    options = {**FAST_OPTIONS, "max_steps": 12, "save_steps": 3}
    job = _run(local_provider, tiny_model, train_file, options)
    wait_for_event(local_provider, job.id, lambda e: bool(step_events([e])))

    def hold_lock(seconds: float) -> None:  # another process stuck inside a write
        conn = sqlite3.connect(local_provider.store.db_path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_lock, args=(8.0,))
    holder.start()
    holder.join()
    _succeed(local_provider, job.id)

    events = local_provider.list_events(job.id)
    assert _steps(events) == list(range(1, 13)), "every step reported exactly once"
    assert [c.step for c in local_provider.list_checkpoints(job.id)] == [3, 6, 9, 12]
    assert "report deferred" in worker_log(local_provider, job.id), "the lock was really met"


def test_a_worker_killed_before_it_trains_is_resumed_from_the_start(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    job = _run(local_provider, tiny_model, train_file, FAST_OPTIONS)
    record = local_provider.store.get_job(job.id)
    assert record is not None and record.worker_pid is not None
    os.kill(record.worker_pid, signal.SIGKILL)

    failed = wait_until(local_provider, job.id, lambda j: j.is_terminal)
    assert failed.error is not None and failed.error.code == "worker_died"
    assert f"anytune resume {job.id}" in failed.error.message

    local_provider.resume_job(job.id)
    _succeed(local_provider, job.id)
    assert _steps(local_provider.list_events(job.id)) == [1, 2, 3, 4]
    assert [c.step for c in local_provider.list_checkpoints(job.id)] == [2, 4]


def test_resuming_from_the_final_checkpoint_trains_no_step_past_max_steps(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    job = _run(local_provider, tiny_model, train_file, FAST_OPTIONS)
    _succeed(local_provider, job.id)
    _fail_after_training(local_provider, job.id, "worker_died")
    before = len(local_provider.list_events(job.id))

    local_provider.resume_job(job.id)
    final = _succeed(local_provider, job.id)

    after = local_provider.list_events(job.id)[before:]
    assert any("from the checkpoint at step 4" in e.message for e in after), after
    assert _steps(after) == [], "resumed at max_steps: no further step"
    assert max(_steps(local_provider.list_events(job.id))) == 4
    assert [c.step for c in local_provider.list_checkpoints(job.id)] == [2, 4]
    from safetensors.torch import load_file

    adapter = load_file(Path(final.fine_tuned_model or "", "adapter_model.safetensors"))
    checkpoint = load_file(
        local_provider.store.job_dir(job.id) / "checkpoints/checkpoint-4/adapter_model.safetensors"
    )
    assert adapter.keys() == checkpoint.keys()
    assert all(bool((adapter[k] == checkpoint[k]).all()) for k in adapter)


def test_a_failed_job_resumes_from_its_newest_intact_checkpoint(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    options = {**FAST_OPTIONS, "max_steps": 6}
    job = _run(local_provider, tiny_model, train_file, options)
    _succeed(local_provider, job.id)
    _fail_after_training(local_provider, job.id, "training_error")  # not only worker_died
    damaged = local_provider.store.job_dir(job.id) / "checkpoints/checkpoint-6"
    weights = damaged / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a disk that filled up mid-save
    before = len(local_provider.list_events(job.id))

    resumed = local_provider.resume_job(job.id)
    assert resumed.error is None
    _succeed(local_provider, job.id)

    after = local_provider.list_events(job.id)[before:]
    resumed_event = next(e.message for e in after if e.message.startswith("Job resumed"))
    assert "from the checkpoint at step 4" in resumed_event
    assert "skipped damaged checkpoint-6 (step 6): adapter_model.safetensors is truncated" in (
        resumed_event
    )
    assert _steps(after) == [5, 6]
    assert [c.step for c in local_provider.list_checkpoints(job.id)] == [2, 4, 6]


def test_a_checkpoint_damaged_after_resume_chose_it_gives_way_to_an_older_one(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    options = {**FAST_OPTIONS, "max_steps": 6}
    job = _run(local_provider, tiny_model, train_file, options)
    _succeed(local_provider, job.id)
    _fail_after_training(local_provider, job.id, "worker_died")
    store = local_provider.store
    # resume_job chose checkpoint-6; it is damaged before the worker reads it.
    optimizer = store.job_dir(job.id) / "checkpoints/checkpoint-6/optimizer.pt"
    data = bytearray(optimizer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    record = store.get_job(job.id)
    assert record is not None
    store.update_job(job.id, resume_from=str(optimizer.parent))
    from anytune_local.worker import Supervisor

    optimizer.write_bytes(bytes(data))
    supervisor = Supervisor(store, job.id, record.attempt)
    fixed = supervisor._check_resume_point(store.get_job(job.id) or record)

    assert fixed.resume_from is not None and fixed.resume_from.endswith("checkpoint-4")
    warning = store.list_events(job.id)[-1]
    assert warning.level == "warn" and "optimizer.pt fails its checksum" in warning.message


def test_a_failed_job_without_a_usable_checkpoint_says_why_it_cannot_resume(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    job = _run(local_provider, tiny_model, train_file, {**FAST_OPTIONS, "save_steps": 100})
    _succeed(local_provider, job.id)  # no checkpoint before the end (save_steps > max_steps)
    for checkpoint in local_provider.list_checkpoints(job.id):
        weights = Path(checkpoint.fine_tuned_model_checkpoint, "adapter_model.safetensors")
        weights.write_bytes(b"")
    _fail_after_training(local_provider, job.id, "out_of_memory")

    with pytest.raises(ConflictError) as info:
        local_provider.resume_job(job.id)

    assert "out_of_memory" in info.value.message and "no usable checkpoint" in info.value.message
    assert info.value.hint == "fix the cause and create a new job"


def test_retention_keeps_the_newest_checkpoints_and_optimizer_state_is_optional(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path
) -> None:
    options = {
        **FAST_OPTIONS,
        "save_steps": 1,
        "save_total_limit": 2,
        "save_optimizer_state": False,
    }
    job = _run(local_provider, tiny_model, train_file, options)
    _succeed(local_provider, job.id)

    kept = local_provider.list_checkpoints(job.id)
    on_disk = sorted(
        p.name for p in (local_provider.store.job_dir(job.id) / "checkpoints").iterdir()
    )
    assert [c.step for c in kept] == [3, 4] and on_disk == ["checkpoint-3", "checkpoint-4"]
    assert not any(Path(c.fine_tuned_model_checkpoint, "optimizer.pt").exists() for c in kept)

    _fail_after_training(local_provider, job.id, "worker_died")
    local_provider.resume_job(job.id)
    resumed = [e.message for e in local_provider.list_events(job.id) if "resumed" in e.message]
    assert "no optimizer state" in resumed[-1] and "optimizer starts afresh" in resumed[-1]
    _succeed(local_provider, job.id)


def test_status_reports_progress_resolved_hyperparameters_and_fresh_checkpoint_metrics(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path, valid_file: Path
) -> None:
    options = {**FAST_OPTIONS, "max_steps": 6, "save_steps": 2, "eval_steps": 3}
    valid_id = local_provider.upload_file(valid_file).id
    job = _run(local_provider, tiny_model, train_file, options, validation_file=valid_id)
    final = _succeed(local_provider, job.id)

    assert isinstance(final.hyperparameters.batch_size, int)
    assert isinstance(final.hyperparameters.n_epochs, int)
    record = local_provider.store.get_job(job.id)
    assert record is not None and record.progress is not None
    from anytune_local.convert import latest_metrics

    progress = latest_metrics(record)
    assert progress is not None and progress.step == 6 and progress.total_steps == 6
    assert final.metrics == progress, "get_job carries the latest step's metrics"
    by_step = {c.step: dict(c.metrics) for c in local_provider.list_checkpoints(job.id)}
    assert by_step[2]["train_loss_step"] == 2.0 and "valid_loss" not in by_step[2]
    assert "valid_loss" not in by_step[4], "the loss measured at step 3 is not step 4's"
    assert by_step[6]["valid_loss_step"] == 6.0 and by_step[6]["valid_loss"] > 0


def test_dpo_resumed_from_its_final_checkpoint_trains_no_further_step(
    tiny_model: Path, tmp_path: Path
) -> None:
    import json

    from anytune_local.recipe import TrainRequest, train

    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Hello {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "Nice to meet you."}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(4)
    ]
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))

    class Steps:
        def __init__(self) -> None:
            self.steps: list[int] = []

        def event(self, message: str, *, level: str = "info", metrics: Any = None) -> None:
            if metrics is not None and metrics.train_loss is not None:
                self.steps.append(metrics.step)

        def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None:
            pass

        def hyperparameters(self, resolved: dict[str, Any]) -> None:
            pass

        def should_stop(self) -> str | None:
            return None

    def request(name: str, resume: Path | None = None) -> TrainRequest:
        return TrainRequest(
            job_id=f"ftjob-{name}",
            base_model=str(tiny_model),
            method="dpo",
            train_path=data,
            valid_path=None,
            output_dir=tmp_path / name,
            checkpoint_dir=tmp_path / "checkpoints",
            hyperparameters={"batch_size": 1},
            options={**FAST_OPTIONS, "max_steps": 2},
            resume_from_checkpoint=resume,
        )

    first, again = Steps(), Steps()
    train(request("first"), first)
    train(request("again", tmp_path / "checkpoints" / "checkpoint-2"), again)

    assert first.steps == [1, 2]
    assert again.steps == [], "resumed at max_steps: no further step"
