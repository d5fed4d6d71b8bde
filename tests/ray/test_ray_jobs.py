"""Real jobs through a real Ray head: the tiny model trained by the local recipe as a Ray
job, its events, checkpoints and adapter (downloaded and loaded with peft), cancel, a killed
worker resumed from its checkpoint, a retried create, two torchrun workers against one."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_OPTIONS, step_numbers, until

from anytune.polling import wait
from anytune.types import Event, Hyperparameters, JobSpec, JobStatus

pytestmark = pytest.mark.slow


def _ray_jobs_of(provider: Any, job_id: str) -> list[dict[str, Any]]:
    return [
        j for j in provider.rest.list() if (j.get("metadata") or {}).get("anytune_job") == job_id
    ]


def test_job_trains_reports_checkpoints_and_downloads(
    ray_provider: Any, tiny_model: Path, train_file: Path, tmp_path: Path
) -> None:
    file = ray_provider.upload_file(train_file)
    job = ray_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=FAST_OPTIONS)
    )
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    seen: list[Event] = []
    final = wait(ray_provider, job.id, interval=0.3, timeout=300, on_event=seen.append)
    assert final.status == JobStatus.SUCCEEDED and final.trained_tokens
    assert [e.id for e in seen] == [e.id for e in ray_provider.list_events(job.id)]
    assert step_numbers(seen) == [1, 2, 3, 4]
    assert all(e.metrics and e.metrics.train_loss for e in seen if e.message.startswith("Step"))
    assert seen[-1].message.startswith("Job succeeded")
    # One Ray submission, with the job's resources, ran the shared recipe entry point.
    (ray_job,) = _ray_jobs_of(ray_provider, job.id)
    assert ray_job["status"] == "SUCCEEDED"
    assert "anytune_local.run_spec" in ray_job["entrypoint"]

    checkpoints = ray_provider.list_checkpoints(job.id)
    assert [c.step for c in checkpoints] == [2, 4]
    assert all(Path(c.fine_tuned_model_checkpoint).is_dir() for c in checkpoints)
    assert "train_loss" in checkpoints[-1].metrics

    destination = tmp_path / "downloaded"
    assert ray_provider.download(job.id, destination) == destination
    assert (destination / "adapter_model.safetensors").is_file()
    # The same through the CLI, which finds the job's provider and settings in the index.
    from click.testing import CliRunner

    from anytune.cli import cli

    again = tmp_path / "again"
    argv = ["download", job.id, str(again), "-p", "ray", "-P", f"address={ray_provider.address}"]
    argv += ["-P", f"storage={ray_provider.storage.uri}"]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    assert (again / "adapter_config.json").is_file()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    model = PeftModel.from_pretrained(base, str(destination))
    assert any("lora" in name for name, _ in model.named_parameters())
    assert json.loads((destination / "adapter_config.json").read_text())["r"] == 4


def test_cancel_stops_the_ray_job(ray_provider: Any, tiny_model: Path, train_file: Path) -> None:
    file = ray_provider.upload_file(train_file)
    options = {**FAST_OPTIONS, "max_steps": 100_000}
    job = ray_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=options)
    )
    until(ray_provider, job.id, lambda j: bool(step_numbers(ray_provider.list_events(j.id))))
    ray_provider.cancel_job(job.id)
    final = until(ray_provider, job.id, lambda j: j.is_terminal, timeout=60)
    assert final.status == JobStatus.CANCELLED
    assert _ray_jobs_of(ray_provider, job.id)[0]["status"] == "STOPPED"
    assert ray_provider.list_events(job.id)[-1].message == "Job cancelled."


def test_killed_worker_fails_and_resume_continues_from_the_checkpoint(
    ray_provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file = ray_provider.upload_file(train_file)
    options = {**FAST_OPTIONS, "max_steps": 40, "save_steps": 2}
    job = ray_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=options)
    )
    until(ray_provider, job.id, lambda j: len(ray_provider.list_checkpoints(j.id)) >= 1)
    started = next(
        e for e in ray_provider.list_events(job.id) if "Training process started" in e.message
    )
    pid = int(started.message.split("pid ")[1].rstrip(")."))
    os.kill(pid, signal.SIGKILL)
    failed = until(ray_provider, job.id, lambda j: j.is_terminal, timeout=60)
    assert failed.status == JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "worker_died"
    assert "anytune resume" in failed.error.message
    saved = max(c.step for c in ray_provider.list_checkpoints(job.id))

    resumed = ray_provider.resume_job(job.id)
    assert resumed.id == job.id and resumed.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    final = until(ray_provider, job.id, lambda j: j.is_terminal)
    assert final.status == JobStatus.SUCCEEDED, final.error
    events = ray_provider.list_events(job.id)
    note = next(e.message for e in events if e.message.startswith("Job resumed"))
    assert f"step {saved}" in note
    after = step_numbers(events[[e.message for e in events].index(note) :])
    assert saved < 40 and after[0] == saved + 1 and after[-1] == 40, [e.message for e in events]
    # Two Ray submissions under one anytune job id.
    runs = sorted(j["submission_id"] for j in _ray_jobs_of(ray_provider, job.id))
    assert runs == [f"{job.id}-r0", f"{job.id}-r1"]


def test_create_retried_with_the_same_request_id_makes_one_ray_job(
    ray_provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file = ray_provider.upload_file(train_file)
    spec = ray_provider.validate_spec(
        JobSpec(
            model=str(tiny_model), training_file=file.id, options={**FAST_OPTIONS, "max_steps": 1}
        )
    )
    first = ray_provider.submit_request(spec, "0123456789abcdef01234567")
    again = ray_provider.submit_request(spec, "0123456789abcdef01234567")
    assert again.id == first.id
    assert len(_ray_jobs_of(ray_provider, first.id)) == 1
    assert wait(ray_provider, first.id, interval=0.3, timeout=240).status == JobStatus.SUCCEEDED
    submitted = [e for e in ray_provider.list_events(first.id) if e.message.startswith("Submitted")]
    assert len(submitted) == 1


def _final_loss(provider: Any, workers: int, model: Path, file_id: str) -> float:
    options = {**FAST_OPTIONS, "num_workers": workers, "lora_dropout": 0.0, "num_cpus": workers}
    hyperparameters = Hyperparameters(batch_size=2)
    spec = JobSpec(
        model=str(model),
        training_file=file_id,
        options=options,
        seed=7,
        hyperparameters=hyperparameters,
    )
    job = provider.create_job(spec)
    final = wait(provider, job.id, interval=0.5, timeout=300)
    assert final.status == JobStatus.SUCCEEDED
    steps = [e for e in provider.list_events(job.id) if e.message.startswith("Step")]
    assert [e.metrics.step for e in steps if e.metrics] == [1, 2, 3, 4]
    loss = steps[-1].metrics.train_loss if steps[-1].metrics else None
    assert loss is not None
    return float(loss)


def test_two_workers_give_the_loss_of_one(
    ray_provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file_id = ray_provider.upload_file(train_file).id
    one = _final_loss(ray_provider, 1, tiny_model, file_id)
    two = _final_loss(ray_provider, 2, tiny_model, file_id)
    assert two == pytest.approx(one, rel=0.02), (one, two)


def test_dpo_with_validation_and_merge_as_on_the_local_provider(
    ray_provider: Any, tiny_model: Path, tmp_path: Path
) -> None:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Hello {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "Nice to meet you."}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(8)
    ]
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    file_id = ray_provider.upload_file(data).id
    spec = JobSpec(
        model=str(tiny_model),
        training_file=file_id,
        validation_file=file_id,
        method="dpo",
        hyperparameters=Hyperparameters(n_epochs=1, batch_size=4, beta=0.2),
        options={"lora_r": 4, "logging_steps": 1, "merge": True},
    )
    final = wait(ray_provider, ray_provider.create_job(spec).id, interval=0.3, timeout=300)
    assert final.status == JobStatus.SUCCEEDED and final.fine_tuned_model
    events = ray_provider.list_events(final.id)
    assert any(e.metrics and e.metrics.valid_loss is not None for e in events)
    job_dir = Path(final.fine_tuned_model).parent
    assert any(p.name == "config.json" and "merged" in str(p) for p in job_dir.rglob("config.json"))


def test_qlora_4bit_as_on_the_local_provider(
    ray_provider: Any, tiny_model: Path, train_file: Path
) -> None:
    """``quantize=4bit`` reaches the shared recipe unchanged and trains there (bitsandbytes
    on the CPU, as the local provider's QLoRA test does)."""
    file_id = ray_provider.upload_file(train_file).id
    spec = JobSpec(
        model=str(tiny_model),
        training_file=file_id,
        options={**FAST_OPTIONS, "quantize": "4bit", "save_steps": 0},
    )
    final = wait(ray_provider, ray_provider.create_job(spec).id, interval=0.3, timeout=300)
    if final.error is not None and final.error.code == "quantization_unavailable":
        pytest.skip(f"bitsandbytes cannot run here: {final.error.message}")
    assert final.status == JobStatus.SUCCEEDED, final.error
    messages = [e.message for e in ray_provider.list_events(final.id)]
    started = next(m for m in messages if m.startswith("Training started"))
    assert "layers quantized to 4bit with bitsandbytes" in started
    assert step_numbers(ray_provider.list_events(final.id)) == [1, 2, 3, 4]
