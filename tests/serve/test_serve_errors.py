"""Bad requests get OpenAI's status, error type and envelope (never a 500); auth is 401."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai
import pytest
from servehelp import KEY_A, Server, check_response

from anytune.testing.data import write_chat_jsonl

MODEL = "base-model"


@pytest.fixture
def http(memory_server: Server) -> httpx2.Client:
    return httpx2.Client(
        base_url=memory_server.url,
        headers={"Authorization": f"Bearer {KEY_A}"},
        event_hooks={"response": [check_response]},
    )


@pytest.fixture
def training_id(client: openai.OpenAI, tmp_path: Path) -> str:
    return client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl", 12), purpose="fine-tune"
    ).id


def _error(response: httpx2.Response, status: int) -> dict[str, str | None]:
    assert response.status_code == status, response.text
    error: dict[str, str | None] = response.json()["error"]
    return error


def test_missing_and_wrong_key_are_401(memory_server: Server) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-key-0000000000000000"},
        {"Authorization": "Basic x"},
    ):
        response = httpx2.get(f"{memory_server.url}/files", headers=headers)
        error = _error(response, 401)
        assert error["type"] == "invalid_request_error"
        assert "wrong-key" not in response.text
    with (
        openai.OpenAI(
            api_key="nope-nope-nope-nope", base_url=memory_server.url, max_retries=0
        ) as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.fine_tuning.jobs.list()


def test_malformed_json_is_400(http: httpx2.Client) -> None:
    response = http.post(
        "/fine_tuning/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert "could not parse the JSON body" in str(_error(response, 400)["message"])


def test_unknown_fields_are_400(client: openai.OpenAI, training_id: str) -> None:
    with pytest.raises(
        openai.BadRequestError, match="Unrecognized request argument supplied: colour"
    ):
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=training_id, extra_body={"colour": "blue"}
        )


def test_missing_required_field(http: httpx2.Client) -> None:
    error = _error(http.post("/fine_tuning/jobs", json={"model": MODEL}), 400)
    assert error["param"] == "training_file"


def test_unknown_file_id_is_400_on_create_and_404_on_read(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=MODEL, training_file="file-doesnotexist")
    assert info.value.param == "training_file"
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-doesnotexist")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-doesnotexist")


def test_invalid_training_file_names_its_lines(client: openai.OpenAI, tmp_path: Path) -> None:
    good = (
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}'
    )
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join([good, "{oops", good, '{"messages": [{"role": "robot", "content": "x"}]}']) + "\n"
    )
    file = client.files.create(file=path, purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
    assert info.value.code == "invalid_file_format"
    assert info.value.param == "training_file"
    assert "line 2" in info.value.message and "line 4" in info.value.message
    assert str(tmp_path) not in info.value.message and "blobs" not in info.value.message


def test_unknown_model_is_404(client: openai.OpenAI, training_id: str) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.fine_tuning.jobs.create(model="/etc/passwd", training_file=training_id)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError, match="Base models on this server: base-model"):
        client.fine_tuning.jobs.create(model="tests", training_file=training_id)  # a folder here
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("ft:base-model:alpha::deadbeef")


@pytest.mark.parametrize(
    ("method", "param"),
    [
        (
            {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}},
            "method.supervised.hyperparameters.n_epochs",
        ),
        (
            {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 999}}},
            "method.supervised.hyperparameters.batch_size",
        ),
        (
            {
                "type": "supervised",
                "supervised": {"hyperparameters": {"learning_rate_multiplier": -1}},
            },
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        (
            {"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.1}}},
            "method.supervised.hyperparameters.beta",
        ),
        (
            {"type": "dpo", "dpo": {"hyperparameters": {"beta": 5}}},
            "method.dpo.hyperparameters.beta",
        ),
        ({"type": "magic"}, "method.type"),
    ],
)
def test_bad_hyperparameters_are_400(
    client: openai.OpenAI, training_id: str, method: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=MODEL, training_file=training_id, method=method)  # type: ignore[arg-type]
    assert info.value.param == param


def test_legacy_hyperparameters_still_work(client: openai.OpenAI, training_id: str) -> None:
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=training_id, hyperparameters={"n_epochs": 3}
    )
    assert job.hyperparameters.n_epochs == 3
    client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=training_id, hyperparameters={"n_epochs": 51}
        )


def test_bad_limits_suffix_metadata(
    client: openai.OpenAI, training_id: str, http: httpx2.Client
) -> None:
    assert _error(http.get("/fine_tuning/jobs", params={"limit": "0"}), 400)["param"] == "limit"
    assert _error(http.get("/fine_tuning/jobs", params={"limit": "x"}), 400)["param"] == "limit"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model=MODEL, training_file=training_id, suffix="x" * 65)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=training_id, metadata={f"k{i}": "v" for i in range(17)}
        )


def test_unknown_route_and_method(http: httpx2.Client) -> None:
    assert _error(http.get("/nothing/here"), 404)["type"] == "invalid_request_error"
    assert _error(http.put("/files"), 405)["type"] == "invalid_request_error"


def test_oversized_json_body_is_413(http: httpx2.Client) -> None:
    body = b'{"model": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    response = http.post(
        "/fine_tuning/jobs", content=body, headers={"content-type": "application/json"}
    )
    _error(response, 413)


def test_chat_needs_a_provider_that_generates(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="cannot run models"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f"}}],
        )


def test_base_models_cannot_be_deleted(client: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete(MODEL)
    assert MODEL in [m.id for m in client.models.list().data]
