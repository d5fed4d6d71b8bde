"""The fake server's answers match Together's published API description (the subset in
``anytune_together.testing._schema``), so the fake cannot drift from the real API unnoticed."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from anytune_together import TogetherProvider
from anytune_together.testing import FakeTogetherServer
from anytune_together.testing._schema import ERROR, RESPONSES

from anytune.errors import ConflictError, NotFoundError
from anytune.polling import wait
from anytune.types import JobSpec

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def test_every_answer_matches_the_document(
    together: TogetherProvider, together_server: FakeTogetherServer, train: Path, tmp_path: Path
) -> None:
    file_id = together.upload_file(train).id
    together.upload_file(train)  # 409: the SDK's "already exists" protocol
    job = together.create_job(JobSpec(model=MODEL, training_file=file_id, suffix="doc"))
    wait(together, job.id, interval=0, timeout=30)
    together.list_events(job.id)
    together.list_checkpoints(job.id)
    together.list_jobs()
    with pytest.raises(ConflictError):
        together.cancel_job(job.id)
    running = together.create_job(JobSpec(model=MODEL, training_file=file_id, method="dpo"))
    together.cancel_job(running.id)
    second = tmp_path / "other.jsonl"
    second.write_text(train.read_text() * 2)
    other = together.upload_file(second)
    together.list_files()
    together.delete_file(other.id)
    with pytest.raises(NotFoundError):
        together.get_job("ft-nope")

    checked = 0
    for request in together_server.requests:
        template = request.route
        if request.status == 409 and template == "POST /v1/files":
            continue
        schema = ERROR if (request.status or 0) >= 400 else RESPONSES.get(template)
        if schema is None or request.response is None:
            continue
        jsonschema.validate(request.response, schema)
        checked += 1
    routes = {r.route for r in together_server.requests if r.response is not None}
    assert set(RESPONSES) <= routes | {"POST /v1/files/{id}/preprocess"}
    assert checked >= 15
