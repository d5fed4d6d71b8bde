"""Keeping secrets out of everything anytune shows, logs or stores: the one scrubbing rule.

A provider declares which constructor settings are secrets
(``Provider.secret_connection_options``, e.g. ``("api_key", "account_id")``); the core never
records them in the job index, and ``scrub`` removes their values from text. Providers scrub
what they translate at their boundary with ``Provider.scrub`` (the same rule); the CLI scrubs
everything it prints with ``scrub_known``, which knows the secrets of every provider a
``Client`` was made for in this process (``remember``).

>>> scrub("key sk-test-1234567890 refused", ["sk-test-1234567890"])
'key *** refused'
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

MIN_LENGTH = 6
"""Shorter values are not scrubbed by default: replacing every "abc" would mangle messages.
Providers whose secrets are short by nature (Fireworks' account ids) pass ``minimum=3``."""
FRAGMENT = 10
"""Servers echo keys partially masked ("sk-tes***3456789012"): a run of at least this many
characters of a secret's head or tail is scrubbed too."""

_known: dict[str, int] = {}
_lock = threading.Lock()


def scrub(
    text: str, secrets: str | Iterable[str | None] | None, *, minimum: int = MIN_LENGTH
) -> str:
    """``text`` with each secret (and any long head or tail fragment of it) as ``***``.

    ``secrets`` is one secret or several (never iterated character by character)."""
    given = [secrets] if isinstance(secrets, str) else list(secrets or ())
    for secret in sorted((s for s in given if s), key=len, reverse=True):
        if len(secret) < minimum:
            continue
        text = text.replace(secret, "***")
        for piece in (secret[:12], secret[-12:]):
            if len(piece) >= FRAGMENT and piece in text:
                text = text.replace(piece, "***")
    return text


def remember(secrets: Iterable[str | None], *, minimum: int = MIN_LENGTH) -> None:
    """Add secrets that ``scrub_known`` removes from now on (for this process)."""
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= minimum:
                _known[secret] = minimum


def scrub_known(text: str) -> str:
    """``text`` without any secret ``remember`` was told about."""
    with _lock:
        known = dict(_known)
    for minimum in sorted(set(known.values())):
        text = scrub(text, [s for s, m in known.items() if m == minimum], minimum=minimum)
    return text


def forget_all() -> None:
    """Drop every remembered secret (tests)."""
    with _lock:
        _known.clear()


__all__ = ["MIN_LENGTH", "forget_all", "remember", "scrub", "scrub_known"]
