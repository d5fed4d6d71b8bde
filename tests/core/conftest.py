from __future__ import annotations

from collections.abc import Iterator

import pytest

from anytune.testing import InMemoryProvider


@pytest.fixture(autouse=True)
def fresh_memory_store() -> Iterator[None]:
    InMemoryProvider.reset()
    yield
    InMemoryProvider.reset()
