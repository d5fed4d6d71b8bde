"""The fake server and the provider speak OpenAI's API as its OpenAPI document describes it:
every request the provider sends and every answer the fake gives in a session that uses each
route (files, uploads in parts, jobs, events, checkpoints, pause/resume, cancel, files list
and delete) is validated against ``/work/shared/openapi/openai-fine-tuning.json``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer, RecordedRequest
from openai_openapi import SPEC, problems

from anytune.polling import wait
from anytune.testing import write_chat_jsonl
from anytune.types import Hyperparameters, JobSpec

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"{SPEC} is not on this machine")

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def recording() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY, record_bodies=True) as fake:
        yield fake


def session(server: FakeOpenAIServer, tmp_path: Path) -> None:
    provider = OpenAIProvider(
        api_key=KEY, base_url=server.url, multipart_threshold=4000, part_size=1500
    )
    small = provider.upload_file(write_chat_jsonl(tmp_path / "small.jsonl", 12))
    big = provider.upload_file(write_chat_jsonl(tmp_path / "big.jsonl", 40))  # in parts
    spec = JobSpec(
        model=MODEL,
        training_file=small.id,
        validation_file=big.id,
        hyperparameters=Hyperparameters(n_epochs=2, learning_rate_multiplier=0.5),
        suffix="demo",
        seed=7,
        metadata={"team": "a"},
        options={"wandb_project": "p", "wandb_tags": ["x"]},
    )
    job = provider.create_job(spec)
    provider.pause_job(job.id)
    provider.resume_job(job.id)
    wait(provider, job.id, interval=0, timeout=30)
    provider.list_checkpoints(job.id)
    provider.list_jobs(limit=5)
    second = provider.create_job(JobSpec(model=MODEL, training_file=small.id))
    provider.cancel_job(second.id)
    provider.list_files(purpose="fine-tune", limit=10)
    provider.delete_file(big.id)
    provider.close()


def test_every_request_and_answer_matches_the_openapi_document(
    recording: FakeOpenAIServer, tmp_path: Path
) -> None:
    session(recording, tmp_path)
    records: list[RecordedRequest] = recording.requests
    routes = {r.route for r in records}
    assert len(routes) >= 13, sorted(routes)  # the session used every route but two
    found = [p for r in records for p in problems(r)]
    assert found == [], "\n".join(found)


def test_the_check_finds_what_the_document_does_not_allow() -> None:
    def record(
        method: str, path: str, body: object, status: int, response: object
    ) -> RecordedRequest:
        return RecordedRequest(
            method, path, "", {}, 0.0, status=status, body=body, response=response
        )

    bad_seed = record(
        "POST", "/v1/fine_tuning/jobs", {"model": "m", "training_file": "f", "seed": -1}, 200, None
    )
    no_id = record("GET", "/v1/files/file-1", None, 200, {"object": "file", "bytes": 1})
    bad_query = RecordedRequest("GET", "/v1/files", "", {"limit": ["many"], "colour": ["x"]}, 0.0)
    assert any("seed" in p for p in problems(bad_seed))
    assert any("'id' is a required property" in p for p in problems(no_id))
    assert len(problems(bad_query)) == 2
    assert problems(record("GET", "/v1/nowhere", None, 200, {}))
