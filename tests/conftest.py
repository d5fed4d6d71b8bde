from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# No test may reach the network or a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def anytune_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own ANYTUNE_HOME, so no test touches the user's real state."""
    home = tmp_path_factory.mktemp("anytune-home")
    monkeypatch.setenv("ANYTUNE_HOME", str(home))
    monkeypatch.delenv("ANYTUNE_PROVIDER", raising=False)
    yield home
