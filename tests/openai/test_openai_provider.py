"""The openai provider against the fake server, driven by the real SDK: files, jobs, events,
checkpoints and state changes, with the SDK's objects turned into anytune's types."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    JobFailedError,
    NotFoundError,
)
from anytune.polling import EventCursor, wait
from anytune.testing import write_chat_jsonl
from anytune.types import Event, Hyperparameters, JobSpec, JobStatus

JOB = "GET /v1/fine_tuning/jobs/{id}"
EVENTS = "GET /v1/fine_tuning/jobs/{id}/events"

MODEL = "gpt-4o-mini-2024-07-18"


def test_constructing_needs_no_key_and_does_not_import_the_sdk() -> None:
    code = (
        "import sys\n"
        "from anytune import registry\n"
        "p = registry.create('openai')\n"
        "rules = p.dataset_rules('gpt-4o-mini-2024-07-18')\n"
        "assert rules.min_examples == 10\n"
        "print(sorted(m for m in ('openai', 'httpx2', 'tiktoken') if m in sys.modules))\n"
    )
    env = {"PATH": "", "HOME": "/nonexistent", "TIKTOKEN_CACHE_DIR": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_missing_key_says_which_variable_to_set(server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(base_url=server.url)
    with pytest.raises(AuthenticationError) as info:
        provider.get_job("ftjob-x")
    assert "OPENAI_API_KEY" in str(info.value)
    assert server.count() == 0


def test_settings_come_from_the_environment(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_456")
    provider = OpenAIProvider()
    assert provider.list_jobs() == []
    (request,) = server.requests
    assert request.headers["openai-organization"] == "org-123"
    assert request.headers["openai-project"] == "proj_456"
    assert "authorization" not in request.headers  # never recorded
    assert KEY not in repr(provider)


def test_upload_round_trip_with_progress(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer
) -> None:
    seen: list[tuple[int, int]] = []
    uploaded = provider.upload_file(train, progress=lambda done, total: seen.append((done, total)))
    size = train.stat().st_size
    assert (uploaded.bytes, uploaded.filename, uploaded.purpose) == (
        size,
        "train.jsonl",
        "fine-tune",
    )
    assert seen and seen[-1] == (size, size)
    assert server.file_content(uploaded.id) == train.read_bytes()
    assert provider.get_file(uploaded.id).id == uploaded.id
    with pytest.raises(NotFoundError):
        provider.get_file("file-nope")


def test_same_content_is_uploaded_once_and_a_deleted_file_again(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    first = provider.upload_file(train)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(train.read_bytes())
    second = OpenAIProvider(api_key=KEY, base_url=server.url).upload_file(copy)
    assert second.id == first.id
    assert server.count("POST /v1/files") == 1
    assert server.count("GET /v1/files/{id}") == 1  # confirmed before reuse

    server.delete_file(first.id)
    third = provider.upload_file(train)
    assert third.id != first.id
    assert server.count("POST /v1/files") == 2
    assert server.file_content(third.id) == train.read_bytes()


def test_large_files_go_through_the_uploads_api_in_parts(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    train = write_chat_jsonl(tmp_path / "big.jsonl", 40)
    size = train.stat().st_size
    provider = OpenAIProvider(
        api_key=KEY, base_url=server.url, multipart_threshold=1000, part_size=1024
    )
    seen: list[tuple[int, int]] = []
    uploaded = provider.upload_file(train, progress=lambda d, t: seen.append((d, t)))
    parts = -(-size // 1024)
    assert server.count("POST /v1/files") == 0
    assert server.count("POST /v1/uploads") == 1
    assert server.count("POST /v1/uploads/{id}/parts") == parts
    assert server.count("POST /v1/uploads/{id}/complete") == 1
    assert server.file_content(uploaded.id) == train.read_bytes()
    assert uploaded.bytes == size
    assert [d for d, _ in seen] == [min(size, 1024 * (i + 1)) for i in range(parts)]


def test_create_sends_method_hyperparameters_and_options(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer
) -> None:
    file_id = provider.upload_file(train).id
    spec = JobSpec(
        model=MODEL,
        training_file=file_id,
        validation_file=file_id,
        method="dpo",
        hyperparameters=Hyperparameters(n_epochs=2, beta=0.2),
        suffix="demo",
        seed=7,
        metadata={"team": "a"},
        options={"wandb_project": "p", "wandb_tags": "x,y"},
    )
    job = provider.create_job(spec)
    (sent,) = server.jobs()
    assert sent["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"n_epochs": 2, "beta": 0.2}},
    }
    assert sent["integrations"] == [
        {"type": "wandb", "wandb": {"project": "p", "tags": ["x", "y"]}}
    ]
    assert sent["metadata"]["team"] == "a" and sent["metadata"]["anytune_request_id"]
    assert sent["user_provided_suffix"] == "demo" and sent["seed"] == 7
    assert job.method == "dpo" and job.seed == 7 and job.suffix == "demo"
    assert job.metadata == {"team": "a"}  # anytune's request id is not shown as user metadata
    assert job.hyperparameters.beta == 0.2


def test_metadata_limit_keeps_one_pair_for_exactly_once(provider: OpenAIProvider) -> None:
    metadata = {f"k{i}": "v" for i in range(16)}
    with pytest.raises(ConfigurationError, match="at most 15"):
        provider.create_job(JobSpec(model=MODEL, training_file="file-x", metadata=metadata))


def test_wait_reaches_succeeded_with_one_events_request_per_poll(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    seen: list[Event] = []
    final = wait(provider, job.id, interval=0, timeout=30, on_event=seen.append)
    assert final.status == JobStatus.SUCCEEDED
    assert final.fine_tuned_model == f"ft:{MODEL}:anytune-fake::{job.id[-8:]}"
    ids = [e.id for e in seen]
    assert len(ids) == len(set(ids))
    assert ids == [e["id"] for e in server.api.jobs[job.id].events]  # all, oldest first
    steps = [e.metrics.step for e in seen if e.metrics is not None]
    assert steps == list(range(1, 7))
    first = next(e.metrics for e in seen if e.metrics is not None)
    assert first is not None and first.total_steps == 6 and first.train_loss == 1.0
    assert "train_mean_token_accuracy" in first.extra
    # Each poll reads the job once and the events once (one extra events read at the end).
    assert server.count(EVENTS) == server.count(JOB) + 1


def test_events_are_incremental_across_polls_and_pages(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    cursor = EventCursor(provider, job.id)
    collected = cursor.fetch()
    while not provider.get_job(job.id).is_terminal:
        collected += cursor.fetch()
    collected += cursor.fetch()
    assert [e.id for e in collected] == [e["id"] for e in server.api.jobs[job.id].events]
    assert cursor.fetch() == []

    # a history longer than one page: only the pages newer than the cursor are read
    everything = provider.list_events(job.id)
    monkeypatch.setattr("anytune_openai.provider.PAGE_SIZE", 3)
    server.reset_requests()
    assert [e.id for e in provider.list_events(job.id)] == [e.id for e in everything]
    assert server.count(EVENTS) == -(-len(everything) // 3)
    server.reset_requests()
    assert provider.list_events(job.id, after=everything[-5].id) == everything[-4:]
    assert server.count(EVENTS) == 2  # the two newest pages, not the whole history


def test_checkpoints_oldest_first_with_metrics(provider: OpenAIProvider, train: Path) -> None:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    wait(provider, job.id, interval=0, timeout=30)
    checkpoints = provider.list_checkpoints(job.id)
    assert [c.step for c in checkpoints] == [2, 4, 6]
    assert all(c.job_id == job.id for c in checkpoints)
    assert checkpoints[-1].fine_tuned_model_checkpoint.endswith(":ckpt-step-6")
    assert checkpoints[0].metrics["train_loss"] == pytest.approx(2 / 3, abs=1e-3)


def test_pause_resume_and_statuses_the_sdk_does_not_know(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer
) -> None:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    paused = provider.pause_job(job.id)
    assert paused.status == JobStatus.PAUSED == provider.get_job(job.id).status
    with pytest.raises(ConflictError, match="paused"):
        provider.pause_job(job.id)
    assert provider.resume_job(job.id).status == JobStatus.VALIDATING_FILES

    server.set_status(job.id, "draining_gpus")
    unknown = provider.get_job(job.id)
    assert unknown.status == "draining_gpus" and not unknown.is_terminal
    assert [j.status for j in provider.list_jobs()] == ["draining_gpus"]


def test_cancel_and_cancel_again(provider: OpenAIProvider, train: Path) -> None:
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    assert provider.cancel_job(job.id).status == JobStatus.CANCELLED
    with pytest.raises(ConflictError, match="cancelled"):
        provider.cancel_job(job.id)
    with pytest.raises(NotFoundError):
        provider.cancel_job("ftjob-missing")


def test_failed_job_shows_the_servers_code_and_message(
    provider: OpenAIProvider, tmp_path: Path
) -> None:
    small = write_chat_jsonl(tmp_path / "small.jsonl", 3)
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(small).id))
    with pytest.raises(JobFailedError) as info:
        wait(provider, job.id, interval=0, timeout=30)
    error = info.value.job.error
    assert error is not None and error.code == "invalid_training_file"
    assert "has 3 example(s), but must have at least 10" in error.message
    assert "invalid_training_file: Training file has 3" in str(info.value)

    broken = tmp_path / "broken.jsonl"
    lines = small.read_text().splitlines() * 4
    lines[5] = json.dumps({"messages": [{"content": "no role"}]})
    broken.write_text("\n".join(lines) + "\n")
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(broken).id))
    with pytest.raises(JobFailedError) as info:
        wait(provider, job.id, interval=0, timeout=30)
    assert info.value.job.error is not None
    assert "Example 6, message 1 Discriminator 'role' is missing" in info.value.job.error.message


def test_server_refusals_carry_the_servers_message(provider: OpenAIProvider, train: Path) -> None:
    from anytune.errors import InvalidRequestError

    file_id = provider.upload_file(train).id
    with pytest.raises(InvalidRequestError) as info:
        provider.create_job(JobSpec(model="davinci-007", training_file=file_id))
    assert "Model davinci-007 is not available for fine-tuning" in str(info.value)
    with pytest.raises(NotFoundError):
        provider.get_job("ftjob-missing")


@pytest.mark.parametrize(
    ("option", "value", "what"),
    [("timeout", "soon", "a number"), ("max_retries", "1.5", "a whole number")],
)
def test_a_bad_provider_option_is_a_usage_error(option: str, value: str, what: str) -> None:
    from anytune.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError) as info:
        OpenAIProvider(**{option: value})
    assert f"{option}={value!r} is not {what}" in str(info.value)
    assert info.value.exit_code == 2
