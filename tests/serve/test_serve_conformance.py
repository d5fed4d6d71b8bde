"""anytune's own openai provider, pointed at `anytune serve`, passes the core conformance
suite: the server is OpenAI's API as far as a real OpenAI client can tell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anytune_openai import OpenAIProvider
from servehelp import KEY_A, Server

from anytune.errors import InvalidRequestError
from anytune.testing.conformance import EXAMPLE, ProviderConformance


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

    def test_generate_as_declared(self, provider: OpenAIProvider, generate_model: str) -> None:
        """The openai provider generates through chat completions, but this server's backend
        (memory) cannot run models: the server says so as OpenAI would (a 400 naming
        ``model``) and the provider raises it as an anytune error. Replies through the
        server are tested on the local provider in test_serve_local.py."""
        with pytest.raises(InvalidRequestError, match="cannot run models"):
            provider.generate(generate_model, EXAMPLE["messages"][:2], max_new_tokens=4)
