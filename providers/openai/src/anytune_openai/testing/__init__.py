"""Test helpers for the openai provider: ``FakeOpenAIServer``, a real HTTP server on
127.0.0.1 that speaks the fine-tuning routes the ``openai`` SDK calls, with scripted faults
(429 with Retry-After, 5xx, dropped connections, lost responses after a commit, 403
``training_not_available``) and a log of every request.

Run it by hand for demos and benchmarks::

    python -m anytune_openai.testing --port 8765
"""

from __future__ import annotations

from anytune_openai.testing._http import Fault, RecordedRequest
from anytune_openai.testing.server import TEST_API_KEY, FakeOpenAIServer

__all__ = ["TEST_API_KEY", "FakeOpenAIServer", "Fault", "RecordedRequest"]
