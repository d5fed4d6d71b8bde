"""anytune provider for Fireworks AI fine-tuning (``--provider fireworks``), through the
official ``fireworks-ai`` SDK (httpx for the signed-URL transfers it does not cover).

Importing this package does not import ``fireworks``; the SDK is loaded on the first API
call. ``anytune_fireworks.testing`` holds ``FakeFireworksServer``, a local HTTP server
speaking Fireworks' dataset and fine-tuning routes, for tests and demos.
"""

from __future__ import annotations

from anytune_fireworks.provider import FireworksProvider

__all__ = ["FireworksProvider"]
