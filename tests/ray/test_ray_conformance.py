"""The Ray provider passes the conformance suite every provider runs, against the real head
of the session: real Ray jobs train the tiny model a few steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_OPTIONS

from anytune.testing.conformance import ProviderConformance
from anytune.types import JobSpec

pytestmark = pytest.mark.slow


class TestRayConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, ray_provider: Any) -> Iterator[Any]:
        yield ray_provider

    @pytest.fixture
    def model(self, tiny_model: Path) -> str:
        return str(tiny_model)

    @pytest.fixture
    def job_options(self) -> dict[str, Any]:
        return dict(FAST_OPTIONS)

    @pytest.fixture
    def wait_timeout(self) -> float:
        return 240.0

    @pytest.fixture
    def poll_interval(self) -> float:
        return 0.3

    @pytest.fixture
    def failing_spec(self, tmp_path: Path) -> Callable[[str], JobSpec]:
        """A model directory that holds no model: the recipe fails loading it."""
        broken = tmp_path / "broken-model"
        broken.mkdir()
        (broken / "config.json").write_text("{}")
        return lambda file_id: JobSpec(model=str(broken), training_file=file_id)
