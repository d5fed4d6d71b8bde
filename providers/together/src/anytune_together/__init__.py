"""anytune provider for Together AI fine-tuning (``--provider together``), through the
official ``together`` SDK.

Importing this package does not import ``together``; the SDK is loaded on the first API call.
``anytune_together.testing`` holds ``FakeTogetherServer``, a local HTTP server speaking
Together's fine-tuning and files routes, for tests and demos.
"""

from __future__ import annotations

from anytune_together.provider import TogetherProvider

__all__ = ["TogetherProvider"]
