"""The core conformance suite, run against the openai provider and the fake server (and the
azure provider through Azure's v1 paths)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from anytune_openai import AzureOpenAIProvider, OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.testing.conformance import ProviderConformance
from anytune.types import JobSpec

MODEL = "gpt-4o-mini-2024-07-18"


class TestOpenAIConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, server: FakeOpenAIServer) -> Iterator[OpenAIProvider]:
        instance = OpenAIProvider(api_key=KEY, base_url=server.url)
        yield instance
        instance.close()

    @pytest.fixture
    def model(self) -> str:
        return MODEL

    @pytest.fixture
    def failing_spec(self, server: FakeOpenAIServer) -> Callable[[str], JobSpec]:
        def spec(file_id: str) -> JobSpec:
            server.fail_jobs_with("invalid_training_file", "Flagged lines: 4, 13")
            return JobSpec(model=MODEL, training_file=file_id)

        return spec


class TestAzureConformance(TestOpenAIConformance):
    @pytest.fixture
    def provider(self, server: FakeOpenAIServer) -> Iterator[AzureOpenAIProvider]:
        instance = AzureOpenAIProvider(api_key=KEY, endpoint=server.root_url)
        yield instance
        instance.close()
