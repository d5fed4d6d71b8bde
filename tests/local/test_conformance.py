"""The local provider passes the conformance suite every provider runs, with real jobs: a
real worker process trains the tiny model a few steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from anytune_local.provider import LocalProvider
from jobhelp import FAST_OPTIONS

from anytune.testing.conformance import ProviderConformance
from anytune.types import JobSpec

pytestmark = pytest.mark.slow


class TestLocalConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, local_provider: LocalProvider) -> Iterator[LocalProvider]:
        yield local_provider

    @pytest.fixture
    def model(self, tiny_model: Path) -> str:
        return str(tiny_model)

    @pytest.fixture
    def job_options(self) -> dict[str, Any]:
        return dict(FAST_OPTIONS)

    @pytest.fixture
    def wait_timeout(self) -> float:
        return 180.0

    @pytest.fixture
    def failing_spec(self, tmp_path: Path) -> Callable[[str], JobSpec]:
        """A directory that passes the quick check (it has a config.json) but holds no model:
        the training process fails loading it and the job ends failed with invalid_model."""
        broken = tmp_path / "broken-model"
        broken.mkdir()
        (broken / "config.json").write_text("{}")
        return lambda file_id: JobSpec(model=str(broken), training_file=file_id)
