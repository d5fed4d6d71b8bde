"""Test helpers for applications and providers.

- ``InMemoryProvider``: a complete provider held in memory, for applications' own tests
  (registered as the ``memory`` provider).
- ``anytune.testing.conformance.ProviderConformance``: the suite every provider runs
  against itself (import it from your tests; it needs pytest).
- ``write_chat_jsonl``: a small valid training file.
"""

from __future__ import annotations

from anytune.testing.data import write_chat_jsonl
from anytune.testing.memory import InMemoryProvider

__all__ = ["InMemoryProvider", "write_chat_jsonl"]
