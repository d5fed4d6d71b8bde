from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_together import TogetherProvider
from anytune_together.testing import TEST_API_KEY, FakeTogetherServer

from anytune.testing import write_chat_jsonl

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture(autouse=True)
def clean_together_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "TOGETHER_PROJECT_ID", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def together_server() -> Iterator[FakeTogetherServer]:
    with FakeTogetherServer() as fake:
        yield fake


@pytest.fixture
def together(together_server: FakeTogetherServer) -> Iterator[TogetherProvider]:
    instance = TogetherProvider(
        api_key=TEST_API_KEY,
        base_url=together_server.url,
        max_retries=3,
        timeout=5,
        reconcile_seconds=1,
    )
    yield instance
    instance.close()


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)
