"""A job made on one machine, seen from another: two providers with their own ANYTUNE_HOME
(so neither knows the other's local record) pointed at the same real Ray head and storage.
The second lists, reads, follows, downloads, cancels and resumes what the first created; an
ending is written to the events once whoever reads it; no secret reaches the cluster."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_OPTIONS, stop_live_jobs, until

from anytune.errors import NotFoundError
from anytune.polling import wait
from anytune.types import JobSpec, JobStatus

pytestmark = pytest.mark.slow

SECRET = "Bearer two-machines-s3cret-0123456789"


@pytest.fixture
def machines(ray_address: str, tmp_path: Path, anytune_home: Path) -> Iterator[tuple[Any, Any]]:
    from anytune_ray.provider import RayProvider

    storage = str(tmp_path / "shared-storage")
    first = RayProvider(
        address=ray_address,
        storage=storage,
        headers=json.dumps({"Authorization": SECRET}),
        home=tmp_path / "home-a",
    )
    second = RayProvider(address=ray_address, storage=storage, home=tmp_path / "home-b")
    yield first, second
    stop_live_jobs(first)
    second.close()


def _events(provider: Any, job_id: str) -> list[tuple[str, str]]:
    return [(e.id, e.message) for e in provider.list_events(job_id)]


def test_a_job_made_on_one_machine_is_read_from_another(
    machines: tuple[Any, Any],
    tiny_model: Path,
    train_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from anytune.cli import cli

    first, second = machines
    storage = first.storage.uri
    file = first.upload_file(train_file)
    options = {**FAST_OPTIONS, "max_steps": 2}
    job = first.create_job(JobSpec(model=str(tiny_model), training_file=file.id, options=options))
    assert first.records.get(job.id) is not None and second.records.get(job.id) is None
    assert job.id in [j.id for j in second.list_jobs()]
    # Only the second machine follows the job to its end (and so writes the ending).
    final = wait(second, job.id, interval=0.3, timeout=300)
    assert final.status == JobStatus.SUCCEEDED and final.fine_tuned_model

    seen = second.get_job(job.id)
    assert seen.to_dict() == first.get_job(job.id).to_dict()
    assert [j.to_dict() for j in second.list_jobs() if j.id == job.id] == [seen.to_dict()]
    events = _events(second, job.id)
    assert events == _events(first, job.id)
    # Both machines have read the ending; it was written once.
    assert [m for _, m in events if m.startswith("Job succeeded")] == [
        f"Job succeeded. Fine-tuned model (PEFT adapter): {final.fine_tuned_model}"
    ]
    after = second.list_events(job.id, after=events[0][0])
    assert [e.id for e in after] == [i for i, _ in events[1:]]
    assert [c.to_dict() for c in second.list_checkpoints(job.id)] == [
        c.to_dict() for c in first.list_checkpoints(job.id)
    ]
    assert (second.download(job.id, tmp_path / "on-b") / "adapter_model.safetensors").is_file()
    assert second.records.get(job.id) is None  # read from storage, nothing copied locally

    # The CLI on a third machine: no index entry, no record; --provider and its settings.
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home-c"))
    settings = ["-p", "ray", "-P", f"address={first.address}", "-P", f"storage={storage}"]
    for argv in (["status", job.id], ["events", job.id], ["list"]):
        result = CliRunner().invoke(cli, [*argv, *settings])
        assert result.exit_code == 0, result.output
        assert job.id in result.output or "Job succeeded" in result.output, result.output
    status = CliRunner().invoke(cli, ["status", job.id, *settings])
    assert "succeeded" in status.output

    with pytest.raises(NotFoundError, match="same -P storage"):
        second.get_job("ftjob-ray-000000000000000000000000")

    # The auth header was sent (the cluster answered), and is nowhere it could be read back:
    # not in the submission Ray keeps (metadata, runtime_env, entrypoint), not in storage,
    # not in either machine's home.
    (ray_job,) = [
        j for j in first.rest.list() if (j.get("metadata") or {}).get("anytune_job") == job.id
    ]
    assert ray_job["metadata"] == {
        "anytune_job": job.id,
        "anytune_run": "0",
        "anytune_storage": first.storage.uri,
    }
    assert "two-machines-s3cret" not in json.dumps(ray_job)
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"two-machines-s3cret" not in stored
    record = json.loads((Path(first.storage.root) / "jobs" / job.id / "job.json").read_text())
    assert record["spec"]["training_file"] == file.id


def test_another_machine_cancels_and_resumes(
    machines: tuple[Any, Any], tiny_model: Path, train_file: Path
) -> None:
    first, second = machines
    file = first.upload_file(train_file)
    long = {**FAST_OPTIONS, "max_steps": 100_000}
    job = first.create_job(JobSpec(model=str(tiny_model), training_file=file.id, options=long))
    until(second, job.id, lambda j: any("Step" in m for _, m in _events(second, j.id)))
    assert second.cancel_job(job.id).status in (JobStatus.RUNNING, JobStatus.CANCELLED)
    assert until(first, job.id, lambda j: j.is_terminal).status == JobStatus.CANCELLED
    assert second.get_job(job.id).status == JobStatus.CANCELLED
    assert [m for _, m in _events(first, job.id)].count("Job cancelled.") == 1

    # A job whose driver cannot start (no such Python on the node) fails at once; the other
    # machine resumes it as the next Ray submission, which the first machine then follows.
    broken = {**FAST_OPTIONS, "python": "/nonexistent/python"}
    job = first.create_job(JobSpec(model=str(tiny_model), training_file=file.id, options=broken))
    failed = until(first, job.id, lambda j: j.is_terminal)
    assert failed.status == JobStatus.FAILED and failed.error is not None
    resumed = second.resume_job(job.id)
    assert resumed.id == job.id
    again = until(first, job.id, lambda j: j.is_terminal)
    assert again.status == JobStatus.FAILED
    assert second.get_job(job.id).to_dict() == again.to_dict()
    ray_jobs = sorted(
        j["submission_id"]
        for j in first.rest.list()
        if (j.get("metadata") or {}).get("anytune_job") == job.id
    )
    assert ray_jobs == [f"{job.id}-r0", f"{job.id}-r1"]
    messages = [m for _, m in _events(first, job.id)]
    assert messages == [m for _, m in _events(second, job.id)]
    assert [m for m in messages if m.startswith("Job resumed")] == [
        "Job resumed from the start (no usable checkpoint)."
    ]
    assert len([m for m in messages if m.startswith("Job failed")]) == 2


def test_a_run_being_submitted_elsewhere_is_queued_cancellable_then_lost(
    machines: tuple[Any, Any], tiny_model: Path, train_file: Path
) -> None:
    """The first machine's create wrote the job's record and its run's request, then its POST
    failed (a real connection refused): the second machine sees a job being submitted, not a
    lost one. Cancelled meanwhile, it stops as soon as the retried create submits it. Left
    alone, it is lost once its request is ``SUBMIT_GRACE`` old."""
    from anytune_ray.rest import RayJobs
    from anytune_ray.runs import SUBMIT_GRACE, run_dir

    from anytune.errors import ProviderConnectionError

    first, second = machines
    file = first.upload_file(train_file)
    spec = first.validate_spec(
        JobSpec(model=str(tiny_model), training_file=file.id, options=FAST_OPTIONS)
    )
    reachable, first.rest = first.rest, RayJobs("http://127.0.0.1:9", attempts=1)
    for request_id in ("0" * 24, "1" * 24):
        with pytest.raises(ProviderConnectionError):
            first.submit_request(spec, request_id)
    first.rest = reachable
    cancelled, lost = "ftjob-ray-" + "0" * 24, "ftjob-ray-" + "1" * 24
    for machine in (second, first):
        for job_id in (cancelled, lost):
            job = machine.get_job(job_id)
            assert job.status == JobStatus.QUEUED and job.error is None

    assert second.cancel_job(cancelled).status == JobStatus.QUEUED
    retried = first.submit_request(spec, "0" * 24)  # the create, retried: now it arrives
    assert retried.id == cancelled
    final = until(second, cancelled, lambda j: j.is_terminal)
    assert final.status == JobStatus.CANCELLED
    assert first.get_job(cancelled).status == JobStatus.CANCELLED
    assert [m for _, m in _events(first, cancelled)].count("Job cancelled.") == 1

    old = time.time() - SUBMIT_GRACE - 1
    for path in Path(run_dir(first, lost, 0)).iterdir():
        os.utime(path, (old, old))
    for machine in (second, first):
        job = machine.get_job(lost)
        assert job.status == JobStatus.FAILED and job.error is not None
        assert job.error.code == "lost_submission"
    failed = [m for _, m in _events(first, lost) if m.startswith("Job failed")]
    assert len(failed) == 1 and failed[0].startswith("Job failed: Ray has no submission")
