"""anytune provider for OpenAI fine-tuning (``--provider openai``) and Azure OpenAI
(``--provider azure``), through the official ``openai`` SDK.

Importing this package does not import ``openai``; the SDK is loaded on the first API call.
``anytune_openai.testing`` holds ``FakeOpenAIServer``, a local HTTP server speaking the
fine-tuning routes, for tests and demos.
"""

from __future__ import annotations

from anytune_openai._create import DuplicateJobWarning
from anytune_openai.azure import AzureOpenAIProvider
from anytune_openai.provider import OpenAIProvider

__all__ = ["AzureOpenAIProvider", "DuplicateJobWarning", "OpenAIProvider"]
