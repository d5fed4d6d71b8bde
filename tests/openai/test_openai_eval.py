"""anytune eval on the openai provider: chat completions of the fine-tuned model (the fake
server's fine-tuned models answer what they were trained on), the overlap check."""

from __future__ import annotations

from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import FakeOpenAIServer

from anytune import Client
from anytune.errors import DatasetError
from anytune.evaluation import evaluate
from anytune.testing import write_chat_jsonl


def finished(provider: OpenAIProvider, train: Path) -> str:
    client = Client(provider, index=False)
    job = client.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=client.files.create(train).id
    )
    return client.jobs.wait(job.id, interval=0).id


def test_eval_through_chat_completions(
    provider: OpenAIProvider, train: Path, server: FakeOpenAIServer
) -> None:
    job_id = finished(provider, train)
    with pytest.raises(DatasetError, match="contaminated: 12 evaluation example"):
        evaluate(provider, job_id, train, training_file=train)
    report = evaluate(
        provider,
        job_id,
        train,
        baseline="gpt-4o-mini-2024-07-18",
        training_file=train,
        allow_overlap=True,
        max_new_tokens=8,
        batch_size=5,
    )
    assert report.tuned.model.startswith("ft:gpt-4o-mini-2024-07-18:")
    assert report.tuned.exact_match == 1.0 and report.baseline is not None
    assert report.baseline.generations[0] == "I don't know." and report.baseline.exact_match == 0.0
    assert report.tuned.losses is None  # chat completions give no reference loss
    assert len(report.differences()[0]) == 12
    assert server.count("POST /v1/chat/completions") == 24  # one per conversation, per model


def test_held_out_prompts_and_sampling(
    provider: OpenAIProvider, train: Path, tmp_path: Path
) -> None:
    job_id = finished(provider, train)
    held_out = write_chat_jsonl(tmp_path / "valid.jsonl", 3, system=False)
    held_out.write_text(held_out.read_text().replace("Review ", "Another review "))
    report = evaluate(provider, job_id, held_out, temperature=0.7, top_p=0.9)
    assert report.tuned.generations == ["I don't know."] * 3
    assert any("not checked for overlap" in w for w in report.warnings)


CHAT_SPEC = Path("/work/shared/openapi/openai-chat-and-models.json")


@pytest.mark.skipif(not CHAT_SPEC.is_file(), reason=f"{CHAT_SPEC} is not on this machine")
def test_chat_completions_match_the_openapi_document(train: Path) -> None:
    import json

    from anytune_openai.testing import TEST_API_KEY
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from openai_openapi import _nullable

    doc = _nullable(json.loads(CHAT_SPEC.read_text()))
    op = doc["paths"]["/chat/completions"]["post"]
    request = op["requestBody"]["content"]["application/json"]["schema"]
    response = op["responses"]["200"]["content"]["application/json"]["schema"]
    with FakeOpenAIServer(api_key=TEST_API_KEY, record_bodies=True) as fake:
        provider = OpenAIProvider(api_key=TEST_API_KEY, base_url=fake.url, timeout=5)
        job_id = finished(provider, train)
        evaluate(provider, job_id, train, allow_overlap=True, max_new_tokens=4, limit=2)
        provider.close()
        (record, *_) = [r for r in fake.requests if r.route == "POST /v1/chat/completions"]
    for schema, value in ((request, record.body), (response, record.response)):
        validator = Draft202012Validator({**schema, "components": doc["components"]})
        assert [e.message for e in validator.iter_errors(value)] == []


def test_the_uploaded_source_is_checked_for_overlap(
    provider: OpenAIProvider, train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    client = Client(provider)  # records the upload's source in the job index
    job = client.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=client.files.create(train).id
    )
    client.jobs.wait(job.id, interval=0)
    with pytest.raises(DatasetError, match="contaminated"):
        client.models.evaluate(job.id, train)
    train.write_text(train.read_text().replace("Review 0:", "Review zero:"))  # changed since
    report = client.models.evaluate(job.id, train, limit=1)
    assert any("not checked for overlap" in w for w in report.warnings)
