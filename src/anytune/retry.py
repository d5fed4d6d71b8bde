"""The one retry policy: exponential backoff with jitter on TransientError, honouring the
provider's Retry-After (``parse_retry_after`` reads it from a response's headers), bounded by
attempts and an optional monotonic deadline."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from anytune.errors import ProviderConnectionError, ServiceUnavailableError, TransientError

T = TypeVar("T")

DEFAULT_ATTEMPTS = 6
MAX_BACKOFF = 30.0


def may_have_committed(exc: BaseException) -> bool:
    """True when a request may have taken effect although no success answer arrived (a
    dropped connection, a timeout, a 5xx): a create must be looked up before it is re-sent
    (``anytune.exactly_once``), a cancel's outcome checked."""
    return isinstance(exc, (ProviderConnectionError, ServiceUnavailableError))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date),
    never negative; None when the headers say nothing usable. Providers put it in
    ``TransientError.retry_after``, which ``backoff_delay`` honours."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            if divisor != 1.0:
                continue
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def backoff_delay(
    attempt: int, error: BaseException | None, *, initial: float = 0.5, cap: float = MAX_BACKOFF
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    Exponential from ``initial``, capped at ``cap``, plus up to ``initial`` of jitter so that
    many clients do not retry in step; never less than the provider's Retry-After.
    """
    exponent = max(0, attempt - 1)
    delay = min(cap, initial * 2 ** min(exponent, 32)) + random.uniform(0, initial)
    if isinstance(error, TransientError) and error.retry_after is not None:
        delay = max(delay, float(error.retry_after))
    return float(delay)


def retry_transient(
    fn: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    deadline: float | None = None,
    initial: float = 0.5,
    on_retry: Callable[[TransientError, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; on ``TransientError`` wait and call again.

    ``deadline`` is a ``time.monotonic()`` value after which no retry is started. The last
    error is re-raised when attempts or time run out.
    """
    from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff_delay(state.attempt_number, exc, initial=initial)
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - time.monotonic()))
        return delay

    def stop(state: RetryCallState) -> bool:
        if stop_after_attempt(attempts)(state):
            return True
        return deadline is not None and time.monotonic() >= deadline

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(exc, TransientError) and state.next_action:
            on_retry(exc, state.next_action.sleep)

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait,
        stop=stop,
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return retrying(fn)
