"""Test helpers for the together provider: ``FakeTogetherServer``, a real HTTP server on
127.0.0.1 speaking Together's files and fine-tuning routes (as the ``together`` SDK calls
them), with scripted faults (429 with Retry-After, 5xx, dropped connections, a create whose
answer is lost after it committed) and a log of every request."""

from __future__ import annotations

from anytune.testing.http import Fault, RecordedRequest
from anytune_together.testing.server import TEST_API_KEY, FakeTogetherServer

__all__ = ["TEST_API_KEY", "FakeTogetherServer", "Fault", "RecordedRequest"]
