"""The one wait loop, shared by every provider, the Client and the CLI.

Each poll costs one ``get_job`` and, when events are wanted, one incremental
``list_events(after=cursor)``; the history is never re-read. When the provider cannot be
reached (``TransientError``) the loop backs off (``anytune.retry.backoff_delay``, capped) and
keeps trying: an outage is not the job's end. It stops only when

- the job ends (the final ``Job``, or ``JobFailedError`` / ``JobCancelledError``);
- the monotonic ``timeout`` passes (``WaitTimeoutError``; the job keeps running);
- the provider has been unreachable for ``max_outage`` seconds, or a poll after the first one
  fails with an error retrying cannot fix (``WaitStoppedError``; the job keeps running).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from anytune.errors import (
    AnytuneError,
    JobCancelledError,
    JobFailedError,
    TransientError,
    WaitStoppedError,
    WaitTimeoutError,
)
from anytune.provider import Provider
from anytune.retry import MAX_BACKOFF, backoff_delay
from anytune.types import Event, Job, JobStatus

T = TypeVar("T")

EventCallback = Callable[[Event], None]
StatusCallback = Callable[[Job], None]


@dataclass(frozen=True)
class Outage:
    """The provider could not be reached. ``on_outage`` gets one before each retry, and one
    with ``recovered=True`` when a poll succeeds again."""

    attempt: int
    """Failed polls in a row."""
    down_for: float
    """Seconds since the first failed poll of this outage."""
    retry_in: float
    """Seconds until the next try (0 when recovered)."""
    error: TransientError | None = None
    """The last error (None when recovered)."""
    recovered: bool = False


OutageCallback = Callable[[Outage], None]


@dataclass
class EventCursor:
    """Follows a job's events incrementally: each ``fetch`` returns only events not seen yet."""

    provider: Provider
    job_id: str
    after: str | None = None
    _seen: set[str] = field(default_factory=set)

    def fetch(self) -> list[Event]:
        events = self.provider.list_events(self.job_id, after=self.after)
        fresh = [e for e in events if e.id not in self._seen]
        for event in fresh:
            self._seen.add(event.id)
        if events:
            self.after = events[-1].id
        return fresh


def reattach_hint(job_id: str) -> str:
    """What to do about a job that anytune stopped waiting for."""
    return (
        f"the job keeps running: re-attach with `anytune wait {job_id}`, check it with "
        f"`anytune status {job_id}`, cancel it with `anytune cancel {job_id}`"
    )


def _ago(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Retry(Exception):
    """Internal: the poll failed transiently and the loop slept; poll again."""


class _Loop:
    """The state of one wait: the deadline, the outage in progress, the last job seen."""

    def __init__(
        self,
        job_id: str,
        *,
        interval: float,
        timeout: float | None,
        max_outage: float | None,
        on_outage: OutageCallback | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.job_id = job_id
        self.interval = interval
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.max_outage = max_outage
        self.on_outage = on_outage
        self.sleep = sleep
        self.job: Job | None = None
        self.failures = 0
        self.down_since: float | None = None
        # During an outage, poll no more often than the normal interval once backed off.
        self.cap = max(MAX_BACKOFF, interval)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``; on a transient error sleep (backing off) and raise ``_Retry``."""
        try:
            result = fn()
        except TransientError as exc:
            self._failed(exc)
            raise _Retry from None
        except AnytuneError as exc:
            if self.job is None:
                raise  # the first poll: a wrong id, a bad key... is the user's to see as is
            raise WaitStoppedError(
                f"stopped waiting for job {self.job_id}: {exc.message}",
                job=self.job,
                hint="; ".join(filter(None, [exc.hint, reattach_hint(self.job_id)])),
            ) from exc
        if self.failures:
            if self.on_outage is not None:
                self.on_outage(Outage(self.failures, self._down_for(), 0.0, recovered=True))
            self.failures, self.down_since = 0, None
        return result

    def _down_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def _failed(self, exc: TransientError) -> None:
        now = time.monotonic()
        self.failures += 1
        if self.down_since is None:
            self.down_since = now
        down_for = now - self.down_since
        if self.deadline is not None and now >= self.deadline:
            raise self.timed_out(exc) from exc
        if self.max_outage is not None and down_for >= self.max_outage:
            raise WaitStoppedError(
                f"stopped waiting for job {self.job_id}: the provider has not answered for "
                f"{_ago(down_for)} (--max-outage {self.max_outage:g} s; last error: "
                f"{exc.message})",
                job=self.job,
                hint=reattach_hint(self.job_id),
            ) from exc
        delay = backoff_delay(self.failures, exc, cap=self.cap)
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - now))
        if self.max_outage is not None:
            delay = min(delay, max(0.0, self.down_since + self.max_outage - now))
        if self.on_outage is not None:
            self.on_outage(Outage(self.failures, down_for, delay, error=exc))
        self.sleep(delay)

    def timed_out(self, last_error: TransientError | None = None) -> WaitTimeoutError:
        job = self.job
        status = f" (status: {job.status})" if job else ""
        if last_error is not None:
            status += f"; the provider has not answered for {_ago(self._down_for())}"
        assert self.timeout is not None
        return WaitTimeoutError(
            f"job {self.job_id} did not finish within {self.timeout:g} s{status}",
            job=job,
            hint=reattach_hint(self.job_id),
        )

    def pause(self) -> None:
        """Sleep until the next poll (raising at the deadline)."""
        if self.deadline is None:
            self.sleep(self.interval)
            return
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.timed_out()
        self.sleep(min(self.interval, remaining))


def wait(
    provider: Provider,
    job_id: str,
    *,
    interval: float = 5.0,
    timeout: float | None = None,
    on_event: EventCallback | None = None,
    on_status: StatusCallback | None = None,
    events_after: str | None = None,
    raise_on_failure: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    on_outage: OutageCallback | None = None,
    max_outage: float | None = None,
) -> Job:
    """Poll ``job_id`` until it succeeds, fails or is cancelled, and return the final Job.

    - ``interval``: seconds between polls. ``timeout``: overall seconds (None: no limit),
      measured on a monotonic clock.
    - ``on_event`` gets every new event once, oldest first; ``on_status`` gets the Job each
      time its status changes (and on the first poll).
    - ``events_after``: an event id already seen (resume following from there); by default
      every event of the job is delivered.
    - While the provider cannot be reached the loop keeps retrying with capped backoff,
      telling ``on_outage`` each time; ``max_outage`` (seconds) gives up on a long outage.

    Raises ``JobFailedError`` / ``JobCancelledError`` when the job ends that way (unless
    ``raise_on_failure=False``), ``WaitTimeoutError`` at the deadline and
    ``WaitStoppedError`` after ``max_outage`` or a non-retryable error once the job was seen
    (in all three the job keeps running). Errors of the first poll (no such job, bad key)
    propagate unchanged.

    >>> job = wait(provider, "ftjob-abc", interval=10, timeout=3600)  # doctest: +SKIP
    """
    if interval < 0:
        raise ValueError("interval must be >= 0")
    loop = _Loop(
        job_id,
        interval=interval,
        timeout=timeout,
        max_outage=max_outage,
        on_outage=on_outage,
        sleep=sleep,
    )
    cursor = EventCursor(provider, job_id, after=events_after)
    last_status: str | None = None

    def deliver() -> None:
        if on_event is not None:
            for event in loop.call(cursor.fetch):
                on_event(event)

    while True:
        try:
            job = loop.call(lambda: provider.get_job(job_id))
            loop.job = job
            deliver()
            if on_status is not None and str(job.status) != last_status:
                on_status(job)
            last_status = str(job.status)
            if job.is_terminal:
                deliver()  # events written between the two calls (e.g. "job succeeded")
                return _finish(job, raise_on_failure)
        except _Retry:
            continue
        loop.pause()


def _finish(job: Job, raise_on_failure: bool) -> Job:
    if not raise_on_failure or job.status == JobStatus.SUCCEEDED:
        return job
    if job.status == JobStatus.CANCELLED:
        raise JobCancelledError(f"job {job.id} was cancelled", job=job)
    reason = f": {job.error}" if job.error else ""
    raise JobFailedError(
        f"job {job.id} failed{reason}",
        job=job,
        hint=f"see its events with `anytune events {job.id}`",
    )


__all__ = ["EventCursor", "Outage", "OutageCallback", "reattach_hint", "wait"]
