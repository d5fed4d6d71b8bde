"""The azure provider: same behaviour, Azure's paths, headers and settings."""

from __future__ import annotations

import pytest
from anytune_openai import AzureOpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.errors import AuthenticationError, ConfigurationError, NotFoundError


def test_v1_api_from_the_environment(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.root_url + "/")
    provider = AzureOpenAIProvider()
    assert provider.list_jobs() == []
    (request,) = server.requests
    assert request.path == "/openai/v1/fine_tuning/jobs"
    assert request.auth == "bearer"
    assert provider.base_url == server.root_url + "/openai/v1"


def test_dated_api_uses_api_version_and_the_api_key_header(server: FakeOpenAIServer) -> None:
    provider = AzureOpenAIProvider(
        api_key=KEY, endpoint=server.root_url, api_version="2025-04-01-preview"
    )
    with pytest.raises(NotFoundError):
        provider.get_job("ftjob-missing")
    (request,) = server.requests
    assert request.path == "/openai/fine_tuning/jobs/ftjob-missing"
    assert request.query["api-version"] == ["2025-04-01-preview"]
    assert request.auth == "api-key"


def test_missing_settings_name_azures_variables(server: FakeOpenAIServer) -> None:
    with pytest.raises(AuthenticationError, match="AZURE_OPENAI_API_KEY"):
        AzureOpenAIProvider(endpoint=server.root_url).list_jobs()
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        AzureOpenAIProvider(api_key=KEY).list_jobs()
    assert server.count() == 0


def test_connection_options_never_include_the_key() -> None:
    assert "api_key" not in AzureOpenAIProvider.connection_options
    assert KEY not in repr(AzureOpenAIProvider(api_key=KEY, endpoint="https://x.example"))


def test_credentials_in_the_endpoint_reach_the_server_but_are_not_kept() -> None:
    with FakeOpenAIServer(api_key=None) as open_server:
        endpoint = open_server.root_url.replace("http://", "http://me:endpoint-secret-42@")
        provider = AzureOpenAIProvider(api_key=KEY, endpoint=endpoint)
        assert provider.list_jobs() == []
        assert open_server.requests[0].auth is None  # userinfo became Basic auth instead
        root = open_server.root_url
    for shown in (provider.endpoint, provider.base_url, repr(provider), provider._account()):
        assert "endpoint-secret-42" not in shown and "me:" not in shown
    assert provider.endpoint == root
