"""Faults on the wire, through the real SDK: 429 with Retry-After, 500, dropped connections,
a create whose answer is lost after it committed, errors translated with a next step, and
the API key never shown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from anytune_together import TogetherProvider
from anytune_together.testing import TEST_API_KEY, FakeTogetherServer

from anytune.errors import (
    AuthenticationError,
    ConflictError,
    DatasetError,
    InvalidArgumentError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
)
from anytune.types import Hyperparameters, JobSpec, JobStatus

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
CREATE = "POST /v1/fine-tunes"


def _spec(file_id: str, **changes: object) -> JobSpec:
    return JobSpec(model=MODEL, training_file=file_id, **changes)  # type: ignore[arg-type]


def test_retry_after_is_honoured(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    file_id = together.upload_file(train).id
    together_server.fail_next("GET /v1/fine-tunes", status=429, retry_after=0.6)
    started = time.monotonic()
    assert together.list_jobs() == []
    assert time.monotonic() - started >= 0.6
    assert together_server.count("GET /v1/fine-tunes") == 2
    assert file_id


def test_rate_limit_exhausted_is_typed(together_server: FakeTogetherServer) -> None:
    provider = TogetherProvider(api_key=TEST_API_KEY, base_url=together_server.url, max_retries=0)
    together_server.fail_next("GET /v1/fine-tunes", status=429, retry_after=0)
    with pytest.raises(RateLimitError):
        provider.list_jobs()


def test_lost_create_answer_makes_one_job(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    file_id = together.upload_file(train).id
    together_server.fail_next(CREATE, drop="after")  # committed, then the connection drops
    job = together.create_job(_spec(file_id, suffix="once"))
    assert [j["id"] for j in together_server.jobs()] == [job.id]
    assert together_server.count(CREATE) == 1  # found by look-up, never sent twice


def test_500_before_commit_is_retried_once_created(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    file_id = together.upload_file(train).id
    together_server.fail_next(CREATE, status=500)
    job = together.create_job(_spec(file_id))
    assert [j["id"] for j in together_server.jobs()] == [job.id]
    assert together_server.count(CREATE) == 2


def test_dropped_connection_on_read_is_retried(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    job = together.create_job(_spec(together.upload_file(train).id))
    together_server.fail_next("GET /v1/fine-tunes/{id}", drop="before")
    assert together.get_job(job.id).id == job.id


def test_bad_key_names_the_variable_and_is_never_shown(together_server: FakeTogetherServer) -> None:
    wrong = "tgp_v1_wrong-KEY-ffffffffffffffff"
    provider = TogetherProvider(api_key=wrong, base_url=together_server.url)
    with pytest.raises(AuthenticationError) as info:
        provider.list_jobs()
    assert "TOGETHER_API_KEY" in str(info.value)
    assert wrong not in str(info.value) and wrong not in repr(info.value.__cause__)


def test_missing_key_is_configuration_error(together_server: FakeTogetherServer) -> None:
    with pytest.raises(AuthenticationError, match="TOGETHER_API_KEY"):
        TogetherProvider(base_url=together_server.url).list_jobs()


def test_unknown_training_file_is_refused_with_together_message(together: TogetherProvider) -> None:
    with pytest.raises(InvalidRequestError, match="file-nope not found"):
        together.create_job(_spec("file-nope"))


def test_cancel_finished_job_is_conflict(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    job = together.create_job(_spec(together.upload_file(train).id))
    together_server.advance(job.id, 20)
    assert together.get_job(job.id).status == JobStatus.SUCCEEDED
    with pytest.raises(ConflictError, match="succeeded"):
        together.cancel_job(job.id)


def test_spec_checks_before_anything_is_sent(
    together: TogetherProvider, together_server: FakeTogetherServer
) -> None:
    for spec, message in [
        (_spec("f", metadata={"team": "a"}), "no metadata"),
        (_spec("f", suffix="x" * 41), "1 to 40"),
        (_spec("f", options={"lora": False, "lora_r": 8}), "only apply to LoRA"),
        (_spec("f", options={"lora_dropout": 1.5}), "lora_dropout"),
        (_spec("f", options={"max_length": 10**6}), "limit"),
        (_spec("f", hyperparameters=Hyperparameters(n_epochs=21)), "n_epochs"),
    ]:
        with pytest.raises(InvalidArgumentError, match=message):
            together.validate_spec(spec, check_files=False)
    assert together_server.count() == 0


def test_lora_options_reach_the_request(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    file_id = together.upload_file(train).id
    together.create_job(
        _spec(
            file_id,
            hyperparameters=Hyperparameters(n_epochs=2, learning_rate_multiplier=3),
            options={
                "lora_r": 8,
                "lora_alpha": 16,
                "lora_dropout": 0.1,
                "target_modules": "q_proj,v_proj",
            },
        )
    )
    job = together_server.jobs()[0]
    assert job["training_type"] == {
        "type": "Lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.1,
        "lora_trainable_modules": "q_proj,v_proj",
    }
    assert job["n_epochs"] == 2 and job["learning_rate"] == pytest.approx(3e-5)


def test_dpo_sends_beta(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    file_id = together.upload_file(train).id
    job = together.create_job(
        _spec(file_id, method="dpo", hyperparameters=Hyperparameters(beta=0.2))
    )
    assert together_server.jobs()[0]["training_method"]["dpo_beta"] == 0.2
    assert job.method == "dpo"


def test_file_check_refuses_before_upload(
    together: TogetherProvider, together_server: FakeTogetherServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n[1, 2]\n')
    with pytest.raises(DatasetError) as info:
        together.upload_file(bad)
    assert f"{bad}:2:" in info.value.problems[0]
    wrong_suffix = tmp_path / "train.txt"
    wrong_suffix.write_text('{"messages": []}\n')
    assert "*.jsonl" in together.check_dataset(wrong_suffix)[0]
    assert together_server.count("POST /v1/files") == 0


def test_same_content_is_uploaded_once(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    first = together.upload_file(train)
    seen: list[tuple[int, int]] = []
    second = together.upload_file(train, progress=lambda d, t: seen.append((d, t)))
    assert first.id == second.id and len(together_server.files()) == 1
    assert seen[-1] == (train.stat().st_size,) * 2


def test_download_adapter(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path, tmp_path: Path
) -> None:
    job = together.create_job(_spec(together.upload_file(train).id))
    with pytest.raises(NotFoundError, match="no trained model"):
        together.download(job.id, tmp_path / "out")
    together_server.advance(job.id, 20)
    path = together.download(job.id, tmp_path / "out")
    assert path.read_bytes() == together_server.api.adapter
    assert not list((tmp_path / "out").glob("*.part"))


def test_openai_weights_keep_their_meaning(
    together: TogetherProvider, together_server: FakeTogetherServer, tmp_path: Path
) -> None:
    """A file with weight 0 on one assistant turn: Together would train user/system text too
    (a missing weight is 1 there once any weight is present), so they are sent as weight 0."""
    import json

    path = tmp_path / "weighted.jsonl"
    example = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!", "weight": 0},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Bye!"},
        ]
    }
    path.write_text(json.dumps(example) + "\n")
    uploaded = together.upload_file(path)
    sent = json.loads(together_server.api.contents[uploaded.id])
    assert [m.get("weight") for m in sent["messages"]] == [0, 0, 0, 0, None]
    assert uploaded.filename == "weighted.jsonl"
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"messages": example["messages"][3:]}) + "\n")
    same = together.upload_file(plain)
    assert together_server.api.contents[same.id] == plain.read_bytes()  # unchanged


def test_create_that_commits_after_the_timeout_makes_one_job(
    together_server: FakeTogetherServer, train: Path
) -> None:
    """The server commits the create 1.5 s after the client gave up (timeout 0.5 s): the
    look-up keeps going long enough to find it instead of creating a second job."""
    provider = TogetherProvider(
        api_key=TEST_API_KEY, base_url=together_server.url, timeout=0.5, reconcile_seconds=5
    )
    file_id = provider.upload_file(train).id
    together_server.fail_next(CREATE, delay=1.5)
    job = provider.create_job(_spec(file_id, suffix="late"))
    assert [j["id"] for j in together_server.jobs()] == [job.id]
    assert together_server.count(CREATE) == 1


def test_late_commit_after_a_resend_is_cancelled_and_reported(
    together_server: FakeTogetherServer, train: Path
) -> None:
    """Commits later than the look-up window (2 s after the 0.5 s timeout, plus a backoff of
    0.5-1 s) but before the window after the re-send ends: the re-sent create made a second
    job; the first one shows up, the newer one is cancelled, and both are reported."""
    from anytune.exactly_once import DuplicateJobWarning

    provider = TogetherProvider(
        api_key=TEST_API_KEY, base_url=together_server.url, timeout=0.5, reconcile_seconds=2
    )
    file_id = provider.upload_file(train).id
    together_server.fail_next(CREATE, delay=4.2)
    with pytest.warns(DuplicateJobWarning) as caught:
        job = provider.create_job(_spec(file_id, suffix="dup"))
    jobs = together_server.jobs()
    assert len(jobs) == 2 and together_server.count(CREATE) == 2
    # The oldest is kept: the re-sent one was created first, the late commit after it. Oldest
    # as anytune.exactly_once orders them, by (created_at in whole seconds, id): the two can
    # fall in the same second, and then the id decides.
    seen = {j["id"]: provider.get_job(j["id"]) for j in jobs}
    kept, duplicate = sorted(jobs, key=lambda j: (seen[j["id"]].created_at, j["id"]))
    assert job.id == kept["id"]
    assert duplicate["status"] == "cancel_requested"
    assert duplicate["id"] in str(caught[0].message)


def test_look_up_before_the_first_send_is_retried(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path
) -> None:
    file_id = together.upload_file(train).id
    together_server.fail_next("GET /v1/fine-tunes", status=503, retry_after=0)
    job = together.create_job(_spec(file_id))
    assert [j["id"] for j in together_server.jobs()] == [job.id]
