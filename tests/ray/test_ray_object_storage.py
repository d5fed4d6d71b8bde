"""Training from object storage (``-P storage=s3://BUCKET/PREFIX``) through a real Ray head
and a real S3-compatible server on 127.0.0.1 (moto): the job stages its inputs to the node's
disk (``anytune_ray.staging``), its events, checkpoints and adapter reach the bucket while it
runs and after, a pause reaches the job from the bucket, and a resume starts from a
checkpoint read back from it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_OPTIONS, step_numbers, stop_live_jobs, until

from anytune.polling import wait
from anytune.types import Event, JobSpec, JobStatus

pytestmark = pytest.mark.slow


@pytest.fixture
def s3_provider(ray_address: str, s3_endpoint: str | None, anytune_home: Path) -> Iterator[Any]:
    if s3_endpoint is None:
        pytest.skip("s3fs and moto are not installed (requirements-dev.txt)")
    import s3fs
    from anytune_ray.provider import RayProvider

    bucket = f"anytune-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(bucket)
    provider = RayProvider(address=ray_address, storage=f"s3://{bucket}/team")
    yield provider
    stop_live_jobs(provider)


def test_a_job_trains_from_s3_and_its_results_land_there(
    s3_provider: Any, tiny_model: Path, train_file: Path, tmp_path: Path
) -> None:
    storage = s3_provider.storage
    file = s3_provider.upload_file(train_file)
    job = s3_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=FAST_OPTIONS)
    )
    seen: list[Event] = []
    final = wait(s3_provider, job.id, interval=0.5, timeout=300, on_event=seen.append)
    assert final.status == JobStatus.SUCCEEDED, final.error
    assert step_numbers(seen) == [1, 2, 3, 4]
    assert [e.id for e in seen] == [e.id for e in s3_provider.list_events(job.id)]
    # The client's own lines (written before the job started) are kept, in order.
    assert seen[0].message.startswith("Submitted to Ray")
    assert seen[-1].message.startswith("Job succeeded")
    # The job read and wrote a copy on the node's disk; what users see names the bucket.
    text = json.dumps([e.message for e in seen])
    assert "/tmp/" not in text and "anytune-ray-" not in text
    bucket_root = storage.public(storage.root)
    assert final.fine_tuned_model == f"{bucket_root}/jobs/{job.id}/adapter"
    checkpoints = s3_provider.list_checkpoints(job.id)
    assert [c.step for c in checkpoints] == [2, 4]
    assert all(c.fine_tuned_model_checkpoint.startswith("s3://") for c in checkpoints)
    assert storage.fs.exists(f"{checkpoints[-1].fine_tuned_model_checkpoint}/trainer_state.json")
    # Downloaded from the bucket and loaded with peft.
    destination = tmp_path / "adapter"
    s3_provider.download(job.id, destination)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), destination)
    # Node credentials stayed on the node: nothing stored or submitted carries them.
    (ray_job,) = [
        j for j in s3_provider.rest.list() if (j.get("metadata") or {}).get("anytune_job") == job.id
    ]
    assert "anytune_ray.staging" in ray_job["entrypoint"]
    assert "anytune-test-secret" not in json.dumps(ray_job)
    for path in storage.fs.find(storage.root):
        if path.endswith((".json", ".jsonl")):
            assert b"anytune-test-secret" not in storage.fs.cat_file(path)


def test_pause_reaches_the_job_and_resume_reads_the_checkpoint_back(
    s3_provider: Any, tiny_model: Path, train_file: Path
) -> None:
    # Long enough that the pause (pulled every 2 s by staging) always arrives mid-run: 120
    # steps of the tiny model once ran out before it did.
    options = {**FAST_OPTIONS, "max_steps": 400, "save_steps": 2}
    file = s3_provider.upload_file(train_file)
    job = s3_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=options)
    )
    # A checkpoint in the bucket means the job is running and syncing.
    deadline = time.monotonic() + 240
    while not s3_provider.list_checkpoints(job.id):
        assert time.monotonic() < deadline, "no checkpoint reached the bucket"
        time.sleep(0.5)
    s3_provider.pause_job(job.id)
    paused = until(s3_provider, job.id, lambda j: j.is_terminal or str(j.status) == "paused")
    assert str(paused.status) == "paused", [e.message for e in s3_provider.list_events(job.id)]
    events = s3_provider.list_events(job.id)
    messages = [e.message for e in events]
    assert any(m.startswith("Pause requested") for m in messages), messages
    assert messages[-1].startswith("Job paused")
    stopped_at = max(step_numbers(events))
    assert stopped_at < 400
    resumed = s3_provider.resume_job(paused.id)
    assert resumed.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    final = until(s3_provider, job.id, lambda j: j.is_terminal, timeout=300)
    assert final.status == JobStatus.SUCCEEDED, final.error
    later = s3_provider.list_events(job.id)
    note = next(e.message for e in later if e.message.startswith("Job resumed"))
    assert "s3://" in note
    # The second run continued after the checkpoint it read back from the bucket.
    steps = step_numbers(later)
    assert steps[-1] == 400 and min(steps[len(step_numbers(events)) :]) > 1


def test_cancel_stops_the_staged_training(
    s3_provider: Any, tiny_model: Path, train_file: Path
) -> None:
    import psutil

    options = {**FAST_OPTIONS, "max_steps": 400, "save_steps": 50}
    file = s3_provider.upload_file(train_file)
    job = s3_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=options)
    )

    def training(job_id: str) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info["cmdline"] or [])
            if job_id in line and "anytune_local.run_spec" in line:
                found.append(process)
        return found

    deadline = time.monotonic() + 240
    while not step_numbers(s3_provider.list_events(job.id)):
        assert time.monotonic() < deadline, "the job never reported a step"
        time.sleep(0.5)
    assert training(job.id), "the training process runs on this machine's node"
    cancelled = s3_provider.cancel_job(job.id)
    final = until(s3_provider, cancelled.id, lambda j: j.is_terminal)
    assert final.status == JobStatus.CANCELLED
    deadline = time.monotonic() + 30
    while training(job.id):
        assert time.monotonic() < deadline, "training outlived its cancelled Ray job"
        time.sleep(0.5)
