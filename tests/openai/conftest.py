from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.testing import write_chat_jsonl


@pytest.fixture(autouse=True)
def clean_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set themselves."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "OPENAI_API_VERSION",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_LOG",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def provider(server: FakeOpenAIServer) -> Iterator[OpenAIProvider]:
    instance = OpenAIProvider(
        api_key=KEY, base_url=server.url, max_retries=3, timeout=5, reconcile_seconds=1
    )
    yield instance
    instance.close()


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)
