"""The fake server's answers parse, with validation, into the fireworks-ai SDK's own response
types. Fireworks publishes no OpenAPI document in a repository anytune can read (its API
reference is a docs site); the SDK's types are generated from Fireworks' OpenAPI spec
(Stainless), so validating against them is the closest check that the fake does not drift."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest
from anytune_fireworks import FireworksProvider
from anytune_fireworks.testing import FakeFireworksServer
from fireworks.types import Dataset, DpoJob, SupervisedFineTuningJob
from fireworks.types.dataset_get_upload_endpoint_response import DatasetGetUploadEndpointResponse
from fireworks.types.model_get_download_endpoint_response import ModelGetDownloadEndpointResponse

from anytune.errors import ConflictError
from anytune.polling import wait
from anytune.types import Hyperparameters, JobSpec

A = "/v1/accounts/{account}"
TYPES: dict[str, type[pydantic.BaseModel]] = {
    f"POST {A}/datasets": Dataset,
    f"GET {A}/datasets/{{id}}": Dataset,
    f"POST {A}/datasets/{{id}}:getUploadEndpoint": DatasetGetUploadEndpointResponse,
    f"POST {A}/supervisedFineTuningJobs": SupervisedFineTuningJob,
    f"GET {A}/supervisedFineTuningJobs/{{id}}": SupervisedFineTuningJob,
    f"POST {A}/dpoJobs": DpoJob,
    f"GET {A}/dpoJobs/{{id}}": DpoJob,
    f"GET {A}/models/{{id}}:getDownloadEndpoint": ModelGetDownloadEndpointResponse,
}
PAGES = {
    f"GET {A}/datasets": ("datasets", Dataset),
    f"GET {A}/supervisedFineTuningJobs": ("supervisedFineTuningJobs", SupervisedFineTuningJob),
    f"GET {A}/dpoJobs": ("dpoJobs", DpoJob),
}


def _strict(model: type[pydantic.BaseModel], data: object) -> None:
    """Validate with the SDK's field types (Literals for states, datetimes, ...)."""
    model.model_validate(data, strict=False)
    fields = set()
    for name, info in model.model_fields.items():
        fields |= {name, info.alias or name}
    unknown = set(data) - fields if isinstance(data, dict) else set()
    assert not unknown, f"{model.__name__}: fields the API does not have: {sorted(unknown)}"


def test_every_answer_parses_into_the_sdk_types(
    fireworks: FireworksProvider,
    fireworks_server: FakeFireworksServer,
    fw_train: Path,
    tmp_path: Path,
) -> None:
    big = FireworksProvider(
        api_key=fireworks._api_key, account_id=fireworks._account_id, base_url=fireworks.base_url,
        single_request_limit=10,
    )  # fmt: skip
    file_id = fireworks.upload_file(fw_train).id
    big.upload_file(
        fw_train.with_name("other.jsonl").write_bytes(fw_train.read_bytes() * 2)
        and fw_train.with_name("other.jsonl")
    )
    job = fireworks.create_job(JobSpec(model="llama-v3p1-8b-instruct", training_file=file_id))
    wait(fireworks, job.id, interval=0, timeout=30)
    fireworks.download(job.id, tmp_path / "model")
    prefs = tmp_path / "prefs.jsonl"
    line = {"input": {"messages": [{"role": "user", "content": "Hi"}]},
            "preferred_output": [{"role": "assistant", "content": "Hello"}],
            "non_preferred_output": [{"role": "assistant", "content": "No"}]}  # fmt: skip
    prefs.write_text((json.dumps(line) + "\n") * 3)
    dpo = fireworks.create_job(
        JobSpec(model="qwen3-8b", training_file=fireworks.upload_file(prefs).id, method="dpo",
                hyperparameters=Hyperparameters(beta=0.1))
    )  # fmt: skip
    fireworks.get_job(dpo.id)
    fireworks.list_jobs()
    fireworks.list_files()
    with pytest.raises(ConflictError):
        fireworks.cancel_job(job.id)

    checked = set()
    for request in fireworks_server.requests:
        if request.response is None or (request.status or 0) >= 400:
            continue
        if request.route in TYPES:
            _strict(TYPES[request.route], request.response)
            checked.add(request.route)
        elif request.route in PAGES:
            key, model = PAGES[request.route]
            assert set(request.response) <= {key, "nextPageToken", "totalSize"}
            for item in request.response[key]:
                _strict(model, item)
            checked.add(request.route)
    assert checked == set(TYPES) | set(PAGES)
    errors = [
        r.response for r in fireworks_server.requests if (r.status or 0) >= 400 and r.response
    ]
    assert errors and all(set(e) == {"code", "message", "details"} for e in errors)
