from __future__ import annotations

from collections.abc import Callable

import pytest

from anytune.testing import InMemoryProvider
from anytune.testing.conformance import ProviderConformance
from anytune.testing.memory import MemoryStore
from anytune.types import JobSpec


class TestInMemoryConformance(ProviderConformance):
    @pytest.fixture
    def provider(self) -> InMemoryProvider:
        return InMemoryProvider(store=MemoryStore())

    @pytest.fixture
    def model(self) -> str:
        return "base-model"

    @pytest.fixture
    def poll_interval(self) -> float:
        return 0.0

    @pytest.fixture
    def failing_spec(self) -> Callable[[str], JobSpec]:
        return lambda file_id: JobSpec(
            model="base-model", training_file=file_id, options={"fail": "invalid_training_file"}
        )
