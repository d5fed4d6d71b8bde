"""Shared fixtures for the local provider's tests: a tiny random model built offline once
per session and an isolated store per test. Helpers to watch jobs are in ``jobhelp.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_local.provider import LocalProvider
from anytune_local.store import ACTIVE_STATUSES

from anytune.testing.data import write_chat_jsonl


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny chat model (test/demo only), written once per session."""
    from anytune_local.recipe.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "valid.jsonl", 4, system=False)


@pytest.fixture
def local_home(anytune_home: Path) -> Path:
    return anytune_home / "local"


@pytest.fixture
def local_provider(local_home: Path) -> Iterator[LocalProvider]:
    """A provider on this test's own store; jobs still active at the end are cancelled."""
    provider = LocalProvider(home=local_home)
    yield provider
    stop_all(provider)


def stop_all(provider: LocalProvider) -> None:
    for record in provider.store.jobs_with_status(ACTIVE_STATUSES):
        try:
            provider.cancel_job(record.id)
        except Exception as exc:  # pragma: no cover - diagnostics only
            print(f"cleanup: could not cancel {record.id}: {exc}", file=sys.stderr)
