"""Fixtures for the serve tests: real `anytune serve` processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from servehelp import KEY_A, KEY_B, Server, server_env, validating_async_client, validating_client


@pytest.fixture(scope="module")
def memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on the in-memory provider, two projects (alpha, beta), small upload limit."""
    home = tmp_path_factory.mktemp("serve-memory")
    keys = home / "keys.txt"
    keys.write_text(f"# project key\nalpha {KEY_A}\nbeta {KEY_B}\n")
    server = Server(
        [
            "--provider",
            "memory",
            "--api-key-file",
            str(keys),
            "--max-upload-mb",
            "1",
            "-m",
            "base-model=base-model",
            "-o",
            "steps=3",
        ],
        server_env(home),
        home / "server.log",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def client(memory_server: Server) -> Iterator[openai.OpenAI]:
    """The real SDK, project alpha; every response validated against OpenAI's OpenAPI."""
    with openai.OpenAI(
        api_key=KEY_A, base_url=memory_server.url, http_client=validating_client(), max_retries=0
    ) as sdk:
        yield sdk


@pytest.fixture
def other_client(memory_server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        api_key=KEY_B, base_url=memory_server.url, http_client=validating_client(), max_retries=0
    ) as sdk:
        yield sdk


@pytest.fixture
def async_client(memory_server: Server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=KEY_A,
        base_url=memory_server.url,
        http_client=validating_async_client(),
        max_retries=0,
    )
