from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_fireworks import FireworksProvider
from anytune_fireworks.testing import TEST_ACCOUNT, TEST_API_KEY, FakeFireworksServer

from anytune.testing import write_chat_jsonl


@pytest.fixture(autouse=True)
def clean_fireworks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FIREWORKS_API_KEY",
        "FIREWORKS_ACCOUNT_ID",
        "FIREWORKS_BASE_URL",
        "WANDB_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fireworks_server() -> Iterator[FakeFireworksServer]:
    with FakeFireworksServer() as fake:
        yield fake


@pytest.fixture
def fireworks(fireworks_server: FakeFireworksServer) -> Iterator[FireworksProvider]:
    instance = FireworksProvider(
        api_key=TEST_API_KEY,
        account_id=TEST_ACCOUNT,
        base_url=fireworks_server.url,
        max_retries=3,
        timeout=5,
    )
    yield instance
    instance.close()


@pytest.fixture
def fw_train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)
