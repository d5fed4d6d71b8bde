"""Test helpers for the fireworks provider: ``FakeFireworksServer``, a real HTTP server on
127.0.0.1 speaking Fireworks' dataset and fine-tuning routes (as the ``fireworks-ai`` SDK calls
them), with scripted faults (429 with Retry-After, 5xx, dropped connections, a create whose
answer is lost after it committed) and a log of every request."""

from __future__ import annotations

from anytune.testing.http import Fault, RecordedRequest
from anytune_fireworks.testing.server import TEST_ACCOUNT, TEST_API_KEY, FakeFireworksServer

__all__ = ["TEST_ACCOUNT", "TEST_API_KEY", "FakeFireworksServer", "Fault", "RecordedRequest"]
