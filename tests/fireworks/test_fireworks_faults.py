"""Faults and Fireworks specifics through the real SDK: 429 with Retry-After, 500, dropped
connections, a create whose answer is lost (exactly once by the client-chosen id), content-
named datasets, large files through the signed URL, DPO, download, and the key and the
account id never shown."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from anytune_fireworks import FireworksProvider
from anytune_fireworks.testing import TEST_ACCOUNT, TEST_API_KEY, FakeFireworksServer

from anytune.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InvalidArgumentError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
)
from anytune.testing import write_chat_jsonl
from anytune.types import Hyperparameters, JobSpec, JobStatus

MODEL = "llama-v3p1-8b-instruct"
SFT = "POST /v1/accounts/{account}/supervisedFineTuningJobs"


def _spec(file_id: str, **changes: object) -> JobSpec:
    return JobSpec(model=MODEL, training_file=file_id, **changes)  # type: ignore[arg-type]


def test_lost_create_answer_makes_one_job(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    file_id = fireworks.upload_file(fw_train).id
    fireworks_server.fail_next(SFT, drop="after")  # committed, then the connection drops
    job = fireworks.create_job(_spec(file_id))
    assert [j["name"].rsplit("/", 1)[-1] for j in fireworks_server.jobs()] == [job.id]
    assert fireworks_server.count(SFT) == 2  # sent again with the same id: 409, then read


def test_retry_after_and_500_are_retried(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    file_id = fireworks.upload_file(fw_train).id
    fireworks_server.fail_next(SFT, status=500)
    job = fireworks.create_job(_spec(file_id))
    fireworks_server.fail_next(
        "GET /v1/accounts/{account}/supervisedFineTuningJobs/{id}", status=429, retry_after=0.5
    )
    started = time.monotonic()
    assert fireworks.get_job(job.id).id == job.id
    assert time.monotonic() - started >= 0.5
    assert len(fireworks_server.jobs()) == 1


def test_rate_limit_exhausted_is_typed(fireworks_server: FakeFireworksServer) -> None:
    provider = FireworksProvider(
        api_key=TEST_API_KEY, account_id=TEST_ACCOUNT, base_url=fireworks_server.url, max_retries=0
    )
    fireworks_server.fail_next("GET /v1/accounts/{account}/supervisedFineTuningJobs", status=429)
    with pytest.raises(RateLimitError):
        provider.list_jobs()


def test_dropped_connection_on_upload_is_retried(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    fireworks_server.fail_next("POST /v1/accounts/{account}/datasets", drop="after")
    uploaded = fireworks.upload_file(fw_train)
    assert uploaded.status == "ready" and uploaded.bytes == fw_train.stat().st_size
    assert len(fireworks_server.datasets()) == 1


def test_same_content_is_one_dataset(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    first = fireworks.upload_file(fw_train)
    seen: list[tuple[int, int]] = []
    again = fireworks.upload_file(fw_train, progress=lambda d, t: seen.append((d, t)))
    assert first.id == again.id and len(fireworks_server.datasets()) == 1
    assert fireworks_server.count("POST /v1/accounts/{account}/datasets/{id}:upload") == 1
    assert seen == [(fw_train.stat().st_size,) * 2]


def test_large_file_goes_through_the_signed_url(
    fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    provider = FireworksProvider(
        api_key=TEST_API_KEY,
        account_id=TEST_ACCOUNT,
        base_url=fireworks_server.url,
        single_request_limit=100,
    )
    seen: list[int] = []
    uploaded = provider.upload_file(fw_train, progress=lambda d, t: seen.append(d))
    assert uploaded.status == "ready"
    assert fireworks_server.count("PUT /_signed/datasets/{id}/{name}") == 1
    assert fireworks_server.count("POST /v1/accounts/{account}/datasets/{id}:upload") == 0
    signed = [r for r in fireworks_server.requests if r.route.startswith("PUT /_signed")]
    assert "authorization" not in signed[0].headers  # no credentials go to storage
    assert seen[-1] == fw_train.stat().st_size and seen == sorted(seen)


def test_refused_dataset_is_an_invalid_request(
    fireworks: FireworksProvider, tmp_path: Path
) -> None:
    small = write_chat_jsonl(tmp_path / "small.jsonl", 2)
    with pytest.raises(InvalidRequestError, match="at least 3 examples"):
        fireworks.upload_file(small)


def test_dpo_job(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, tmp_path: Path
) -> None:
    path = tmp_path / "prefs.jsonl"
    line = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }
    path.write_text((json.dumps(line) + "\n") * 3)
    file_id = fireworks.upload_file(path).id
    job = fireworks.create_job(
        _spec(file_id, method="dpo", hyperparameters=Hyperparameters(beta=0.2, n_epochs=2))
    )
    assert job.id.startswith("dpo-") and job.method == "dpo"
    (sent,) = fireworks_server.jobs()
    assert sent["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.2}}
    assert sent["trainingConfig"]["epochs"] == 2
    assert [j.id for j in fireworks.list_jobs()] == [job.id]
    fireworks_server.advance(job.id, 10)
    assert fireworks.get_job(job.id).status == JobStatus.SUCCEEDED
    assert fireworks.get_job(job.id).hyperparameters.beta == 0.2


def test_options_reach_the_request_and_unoffered_ones_are_refused(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    file_id = fireworks.upload_file(fw_train).id
    fireworks.create_job(
        _spec(
            file_id,
            suffix="mine",
            hyperparameters=Hyperparameters(batch_size=4, learning_rate_multiplier=2),
            options={"lora_r": 16, "max_length": 4096},
        )
    )
    (sent,) = fireworks_server.jobs()
    assert (sent["loraRank"], sent["maxContextLength"], sent["batchSizeSamples"]) == (16, 4096, 4)
    assert sent["learningRate"] == pytest.approx(2e-4) and sent["displayName"] == "mine"
    assert sent["baseModel"] == f"accounts/fireworks/models/{MODEL}"
    for options, message in [
        ({"lora_alpha": 16}, "exposes the LoRA rank only"),
        ({"target_modules": "q_proj"}, "exposes the LoRA rank only"),
        ({"lora_r": 512}, "lora_r must be"),
        ({"max_length": 0}, "max_length must be positive"),
    ]:
        with pytest.raises(InvalidArgumentError, match=message):
            fireworks.validate_spec(_spec(file_id, options=options), check_files=False)


def test_cancel_and_finished_conflict(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    file_id = fireworks.upload_file(fw_train).id
    job = fireworks.create_job(_spec(file_id))
    fireworks_server.advance(job.id, 10)
    with pytest.raises(ConflictError, match="succeeded"):
        fireworks.cancel_job(job.id)


def test_events_survive_a_job_that_failed_while_running(
    fireworks: FireworksProvider, fireworks_server: FakeFireworksServer, fw_train: Path
) -> None:
    job = fireworks.create_job(_spec(fireworks.upload_file(fw_train).id))
    fireworks_server.advance(job.id, 3)  # running at 0%; each read advances it 25%
    seen = fireworks.list_events(job.id)
    assert [e.message for e in seen] == [
        "job created", "validating", "pending", "running", "10% trained", "20% trained",
    ]  # fmt: skip
    fireworks_server.fail_jobs_with("trainer crashed")
    new = fireworks.list_events(job.id, after=seen[3].id)  # a cursor from an older poll
    assert [e.message for e in new] == ["10% trained", "20% trained", "job failed: trainer crashed"]
    assert new[-1].level == "error"


def test_download(
    fireworks: FireworksProvider,
    fireworks_server: FakeFireworksServer,
    fw_train: Path,
    tmp_path: Path,
) -> None:
    job = fireworks.create_job(_spec(fireworks.upload_file(fw_train).id))
    with pytest.raises(NotFoundError, match="no trained model"):
        fireworks.download(job.id, tmp_path)
    fireworks_server.advance(job.id, 10)
    target = fireworks.download(job.id, tmp_path / "out")
    assert sorted(p.name for p in target.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "anytune_job.json",
    ]


def test_secrets_never_shown(fireworks_server: FakeFireworksServer) -> None:
    wrong = "fw_wrong-KEY-ffffffffffffffffff"
    provider = FireworksProvider(
        api_key=wrong, account_id=TEST_ACCOUNT, base_url=fireworks_server.url
    )
    with pytest.raises(AuthenticationError) as info:
        provider.list_jobs()
    assert "FIREWORKS_API_KEY" in str(info.value) and wrong not in str(info.value)
    other = FireworksProvider(
        api_key=TEST_API_KEY, account_id="someone-else-99", base_url=fireworks_server.url
    )
    with pytest.raises(Exception) as denied:
        other.get_job("sft-x")
    assert "someone-else-99" not in str(denied.value)
    assert TEST_ACCOUNT not in repr(FireworksProvider(account_id=TEST_ACCOUNT))
    with pytest.raises(ConfigurationError, match="FIREWORKS_ACCOUNT_ID"):
        FireworksProvider(api_key=TEST_API_KEY, base_url=fireworks_server.url).list_jobs()
