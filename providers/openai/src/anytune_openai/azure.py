"""``AzureOpenAIProvider`` (provider name ``azure``): the same fine-tuning API, hosted by Azure.

Two ways in, both with AZURE_OPENAI_API_KEY:

- the v1 API (default): ``endpoint`` (AZURE_OPENAI_ENDPOINT, e.g.
  ``https://RESOURCE.openai.azure.com``) becomes ``base_url = ENDPOINT/openai/v1``, called
  with the plain OpenAI client; or pass ``base_url`` directly;
- the dated API: set ``api_version`` (or OPENAI_API_VERSION) and the SDK's ``AzureOpenAI``
  client is used, with the ``api-version`` query parameter and the ``api-key`` header.

Everything else (exactly-once create, retries, errors, events) behaves as for ``openai``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from anytune.errors import ConfigurationError
from anytune_openai._errors import split_url_secrets
from anytune_openai.provider import OpenAIProvider

if TYPE_CHECKING:
    from openai import OpenAI


class AzureOpenAIProvider(OpenAIProvider):
    """Fine-tuning on Azure OpenAI (see the module docstring)."""

    name: ClassVar[str] = "azure"
    key_env: ClassVar[str] = "AZURE_OPENAI_API_KEY"
    connection_options: ClassVar[tuple[str, ...]] = ("endpoint", "base_url", "api_version")
    priced: ClassVar[bool] = False  # Azure bills per region, plus hosting: not OpenAI's table

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        api_version: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float | str | None = None,
        max_retries: int | str | None = None,
        *,
        multipart_threshold: int | str | None = None,
        part_size: int | str | None = None,
    ):
        super().__init__(
            api_key=api_key,
            base_url="unused",
            organization=organization,
            project=project,
            timeout=timeout,
            max_retries=max_retries,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
        )
        raw_endpoint = (endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT") or "").rstrip("/")
        # Shown and recorded without credentials; the connection still gets them (base_url).
        self.endpoint = split_url_secrets(raw_endpoint)[0]
        self.api_version = api_version or os.environ.get("OPENAI_API_VERSION") or None
        if base_url:
            self.base_url = base_url
        elif raw_endpoint and not self.api_version:
            self.base_url = f"{raw_endpoint}/openai/v1"
        elif raw_endpoint:
            self.base_url = f"{raw_endpoint}/openai"
        else:
            self.base_url = ""

    def _account(self) -> str:
        return f"{self.base_url}|api-version={self.api_version or 'v1'}"

    def _missing_key(self) -> Any:
        error = super()._missing_key()
        error.hint = (
            f"set the {self.key_env} environment variable (the key of your Azure OpenAI resource)"
        )
        return error

    def _make_client(self) -> OpenAI:
        import openai

        if not self.base_url:
            raise ConfigurationError(
                "no Azure OpenAI endpoint",
                hint="set AZURE_OPENAI_ENDPOINT=https://RESOURCE.openai.azure.com "
                "(or -P endpoint=... / -P base_url=...)",
                provider=self.name,
            )
        timeout = self.timeout if self.timeout is not None else openai.NOT_GIVEN
        if self.api_version:
            return openai.AzureOpenAI(
                api_key=self._api_key,
                api_version=self.api_version,
                base_url=self._connect_url,
                organization=self.organization,
                timeout=timeout,
                max_retries=0,
            )
        return openai.OpenAI(
            api_key=self._api_key,
            base_url=self._connect_url,
            organization=self.organization,
            project=self.project,
            timeout=timeout,
            max_retries=0,
        )
