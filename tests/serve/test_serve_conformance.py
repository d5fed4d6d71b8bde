"""anytune's own openai provider, pointed at `anytune serve`, passes the core conformance
suite: the server is OpenAI's API as far as a real OpenAI client can tell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anytune_openai import OpenAIProvider
from servehelp import KEY_A, Server

from anytune.testing.conformance import ProviderConformance


class TestOpenAIProviderThroughServe(ProviderConformance):
    @pytest.fixture
    def provider(self, memory_server: Server) -> Iterator[OpenAIProvider]:
        instance = OpenAIProvider(api_key=KEY_A, base_url=memory_server.url)
        yield instance
        instance.close()

    @pytest.fixture
    def model(self) -> str:
        return "base-model"

    @pytest.fixture
    def wait_timeout(self) -> float:
        return 60.0
