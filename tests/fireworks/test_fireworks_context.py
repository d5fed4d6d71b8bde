"""Each Fireworks model's training context (issue 15): read from Fireworks' training-shape
registry through the fake server when a key is set (the source of the docs' "Max supported
context length" table), else the published figure in ``catalog``, else none claimed; applied
by ``validate`` to every example and by ``create`` to ``-o max_length``, before any upload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anytune_fireworks import FireworksProvider, _shapes
from anytune_fireworks.testing import TEST_ACCOUNT, TEST_API_KEY, FakeFireworksServer
from anytune_fireworks.testing._shapes import shape
from click.testing import CliRunner

from anytune.cli import cli
from anytune.testing import write_chat_jsonl

ROUTE = "/v1/accounts/-/trainingShapes/-/versions"


def shape_requests(server: FakeFireworksServer) -> list[dict[str, list[str]]]:
    return [r.query for r in server.requests if r.path == ROUTE]


def test_the_context_is_the_largest_validated_shape_in_the_registry(
    fireworks_server: FakeFireworksServer,
) -> None:
    unvalidated = shape("qwen3-14b", 1_048_576, version="v9")
    unvalidated["latestValidated"] = False
    fireworks_server.api.training_shapes[:] = [
        shape("qwen3-14b", 32_768),
        shape("qwen3-14b", 65_536, mode="POLICY_TRAINER"),
        unvalidated,
        shape("qwen3-32b", 262_144),
    ]
    provider = FireworksProvider(api_key=TEST_API_KEY, base_url=fireworks_server.url)
    rules = provider.dataset_rules("accounts/fireworks/models/qwen3-14b")
    assert rules.max_tokens_per_example == 65_536
    assert any("65,536 tokens from Fireworks' training-shape registry" in n for n in rules.notes)
    (query,) = shape_requests(fireworks_server)
    assert query["filter"] == [
        'snapshot.base_model="accounts/fireworks/models/qwen3-14b" AND latest_validated=true'
    ]
    # Read once per model: the bare and the full name are the same model.
    assert provider.dataset_rules("qwen3-14b").max_tokens_per_example == 65_536
    assert len(shape_requests(fireworks_server)) == 1
    # No account id is needed to read it.
    assert provider._account_id is None


def test_every_page_of_the_registry_is_read(fireworks_server: FakeFireworksServer) -> None:
    many = [shape("qwen3-8b", 1024 * (i + 1), version=f"v{i}") for i in range(450)]
    fireworks_server.api.training_shapes[:] = many
    provider = FireworksProvider(api_key=TEST_API_KEY, base_url=fireworks_server.url)
    assert provider.training_context("qwen3-8b").tokens == 450 * 1024
    pages = shape_requests(fireworks_server)
    assert len(pages) == 3 and "pageToken" not in pages[0] and pages[2]["pageToken"] == ["400"]


def test_validate_applies_the_registry_context_to_every_example(
    fireworks_server: FakeFireworksServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fireworks_server.api.training_shapes[:] = [shape("qwen3-8b", 64)]
    monkeypatch.setenv("FIREWORKS_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("FIREWORKS_BASE_URL", fireworks_server.url)
    train = write_chat_jsonl(tmp_path / "train.jsonl", 6)
    with train.open("a", encoding="utf-8") as out:
        long = [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok"}]
        out.write(json.dumps({"messages": long}) + "\n")
    result = CliRunner().invoke(cli, ["validate", str(train), "-p", "fireworks", "-m", "qwen3-8b"])
    assert result.exit_code == 0, result.output  # over the limit: a warning, as for OpenAI
    assert "train.jsonl:7: about 510 tokens, over the limit of 64 per example" in result.output
    assert "Traceback" not in result.output and TEST_API_KEY not in result.output
    assert "from Fireworks' training-shape registry" in result.output
    # -o max_length over that context is refused before anything is uploaded or created.
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", TEST_ACCOUNT)
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    short = write_chat_jsonl(tmp_path / "short.jsonl", 6)
    created = CliRunner().invoke(
        cli, ["run", str(short), "-p", "fireworks", "-m", "qwen3-8b", "-o", "max_length=4096"]
    )
    assert created.exit_code != 0, created.output
    assert "training context of 64 tokens" in created.output
    assert "-o max_length=64 or less" in created.output
    assert not [r for r in fireworks_server.requests if r.method == "POST"]


def test_without_a_key_the_published_figure_applies(tmp_path: Path) -> None:
    provider = FireworksProvider()
    published = provider.dataset_rules("glm-5p1")
    assert published.max_tokens_per_example == 200_000
    assert any(
        "set FIREWORKS_API_KEY" in n and "as published in https://docs.fireworks.ai" in n
        for n in published.notes
    )
    unknown = provider.dataset_rules("qwen3-8b")
    assert unknown.max_tokens_per_example is None
    assert any("no per-example token limit checked" in n for n in unknown.notes)


@pytest.mark.parametrize("failure", ["unreachable", "bad key"])
def test_an_unreadable_registry_falls_back_to_the_published_figure(
    fireworks_server: FakeFireworksServer, failure: str
) -> None:
    url = "http://127.0.0.1:9" if failure == "unreachable" else fireworks_server.url
    key = "fw_wrong-key-0123456789" if failure == "bad key" else TEST_API_KEY
    context = FireworksProvider(api_key=key, base_url=url, timeout=2).training_context(
        "gemma-4-31b-it"
    )
    assert context.tokens == 262_144
    assert context.source.startswith("could not read Fireworks' training-shape registry")
    assert key not in context.source
    assert ("HTTP 401" in context.source) == (failure == "bad key")


def test_a_model_without_a_validated_shape_is_named(
    fireworks_server: FakeFireworksServer,
) -> None:
    provider = FireworksProvider(api_key=TEST_API_KEY, base_url=fireworks_server.url)
    context = provider.training_context("qwen3-no-such-model")
    assert context.tokens is None
    assert (
        "lists no validated training shape for accounts/fireworks/models/qwen3-no-such-model"
        in (context.source)
    )


def test_the_fake_refuses_a_filter_it_does_not_know(fireworks_server: FakeFireworksServer) -> None:
    import httpx

    answer = httpx.get(
        fireworks_server.url + ROUTE,
        params={"filter": 'snapshot.colour="red"'},
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
    )
    assert answer.status_code == 400 and "invalid filter term" in answer.json()["message"]
    assert _shapes.shape_filter("x") == (
        'snapshot.base_model="accounts/fireworks/models/x" AND latest_validated=true'
    )
