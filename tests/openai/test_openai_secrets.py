"""The API key never appears in logs, errors, reprs or job data, even when the SDK logs at
debug level and a server echoes the key back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.errors import AnytuneError
from anytune.polling import wait
from anytune.retry import parse_retry_after
from anytune.secrets import scrub
from anytune.types import JobSpec

MODEL = "gpt-4o-mini-2024-07-18"


def test_debug_logs_of_a_faulty_session_hold_no_key(
    provider: OpenAIProvider,
    server: FakeOpenAIServer,
    train: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.fail_next("POST /v1/files", status=500)
    server.fail_next("POST /v1/fine_tuning/jobs", drop="after")
    server.fail_next("GET /v1/fine_tuning/jobs/{id}", status=429, retry_after=0.1)
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    final = wait(provider, job.id, interval=0, timeout=30)
    texts = [repr(final), repr(job), repr(provider), str(final.to_dict())]
    with FakeOpenAIServer(api_key="sk-else-000000", echo_key_in_errors=True) as hostile:
        try:
            OpenAIProvider(api_key=KEY, base_url=hostile.url).list_jobs()
        except AnytuneError as exc:
            texts += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    retries = [r for r in caplog.records if r.name == "anytune.openai" and "retrying" in r.message]
    assert len(retries) == 3  # the faults really happened and were logged
    assert any(r.name.startswith(("openai", "httpx")) for r in caplog.records)  # SDK debug logs
    assert KEY not in caplog.text
    assert all(KEY not in text for text in texts)


def test_scrub_removes_the_key_and_long_fragments() -> None:
    assert scrub(f"key {KEY} here", KEY) == "key *** here"
    assert KEY[:12] not in scrub(f"prefix {KEY[:14]}...", KEY)
    assert scrub("sk-tes********3456", KEY) == "sk-tes********3456"  # OpenAI's own mask is fine
    assert scrub("anything", None) == "anything"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds
