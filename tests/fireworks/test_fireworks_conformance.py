"""The core conformance suite, run against the fireworks provider and its fake server
(driven through the real ``fireworks-ai`` SDK)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from anytune_fireworks import FireworksProvider
from anytune_fireworks.testing import TEST_ACCOUNT, TEST_API_KEY, FakeFireworksServer

from anytune.testing.conformance import ProviderConformance
from anytune.types import JobSpec

MODEL = "llama-v3p1-8b-instruct"


class TestFireworksConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, fireworks_server: FakeFireworksServer) -> Iterator[FireworksProvider]:
        instance = FireworksProvider(
            api_key=TEST_API_KEY, account_id=TEST_ACCOUNT, base_url=fireworks_server.url
        )
        yield instance
        instance.close()

    @pytest.fixture
    def model(self) -> str:
        return MODEL

    @pytest.fixture
    def failing_spec(self, fireworks_server: FakeFireworksServer) -> Callable[[str], JobSpec]:
        def spec(file_id: str) -> JobSpec:
            fireworks_server.fail_jobs_with("trainer ran out of memory")
            return JobSpec(model=MODEL, training_file=file_id)

        return spec
