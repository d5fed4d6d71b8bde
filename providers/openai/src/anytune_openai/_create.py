"""Exactly-once ``fine_tuning.jobs.create``: the core's protocol (``anytune.exactly_once``)
with OpenAI's way of finding a request's jobs.

Each create carries a client-generated id in ``metadata["anytune_request_id"]``; the jobs
carrying it are listed with the metadata filter. A caller-supplied id (an earlier run may have
used it) is looked up before the first send, and once more after a create that answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from anytune.errors import TransientError
from anytune.exactly_once import DEFAULT_WINDOW, DuplicateJobWarning
from anytune.exactly_once import CreateOnce as _CreateOnce
from anytune.types import Job
from anytune_openai._convert import REQUEST_ID_KEY

__all__ = ["DEFAULT_WINDOW", "CreateOnce", "DuplicateJobWarning"]


def CreateOnce(
    *,
    provider: str,
    request_id: str,
    send: Callable[[], Job],
    lookup: Callable[[], list[Job]],
    cancel: Callable[[str], Job],
    attempts: int,
    window: float,
    user_request_id: bool,
    on_retry: Callable[[TransientError, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> _CreateOnce:
    """The exactly-once create of the request ``request_id`` (``lookup`` lists the jobs that
    carry it in their metadata)."""
    import logging

    return _CreateOnce(
        provider=provider,
        send=send,
        lookup=lookup,
        cancel=cancel,
        attempts=attempts,
        window=window,
        request=f"the create with {REQUEST_ID_KEY}={request_id}",
        unknown_hint=(
            f"the job may or may not exist; create again with metadata "
            f"{REQUEST_ID_KEY}={request_id} to reuse it instead of starting another"
        ),
        look_first=user_request_id,
        request_id=request_id,
        on_retry=on_retry,
        sleep=sleep,
        logger=logging.getLogger("anytune.openai"),
    )
