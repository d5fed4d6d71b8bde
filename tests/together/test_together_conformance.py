"""The core conformance suite, run against the together provider and its fake server
(driven through the real ``together`` SDK)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from anytune_together import TogetherProvider
from anytune_together.testing import TEST_API_KEY, FakeTogetherServer

from anytune.testing.conformance import ProviderConformance
from anytune.types import JobSpec

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


class TestTogetherConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, together_server: FakeTogetherServer) -> Iterator[TogetherProvider]:
        instance = TogetherProvider(api_key=TEST_API_KEY, base_url=together_server.url)
        yield instance
        instance.close()

    @pytest.fixture
    def model(self) -> str:
        return MODEL

    @pytest.fixture
    def failing_spec(self, together_server: FakeTogetherServer) -> Callable[[str], JobSpec]:
        def spec(file_id: str) -> JobSpec:
            together_server.fail_jobs_with("CUDA out of memory at step 1")
            return JobSpec(model=MODEL, training_file=file_id)

        return spec
