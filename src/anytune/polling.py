"""The one wait loop, shared by every provider, the Client and the CLI.

Each poll costs one ``get_job`` and one incremental ``list_events(after=cursor)``; the history
is never re-read. Transient errors back off (``anytune.retry``) within the same monotonic
deadline; the loop ends with the final Job or a typed error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from anytune.errors import JobCancelledError, JobFailedError, WaitTimeoutError
from anytune.provider import Provider
from anytune.retry import retry_transient
from anytune.types import Event, Job, JobStatus

EventCallback = Callable[[Event], None]
StatusCallback = Callable[[Job], None]


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
) -> Job:
    """Poll ``job_id`` until it succeeds, fails or is cancelled, and return the final Job.

    - ``interval``: seconds between polls. ``timeout``: overall seconds (None: no limit),
      measured on a monotonic clock.
    - ``on_event`` gets every new event once, oldest first; ``on_status`` gets the Job each
      time its status changes (and on the first poll).
    - ``events_after``: an event id already seen (resume following from there); by default
      every event of the job is delivered.

    Raises ``JobFailedError`` / ``JobCancelledError`` when the job ends that way (unless
    ``raise_on_failure=False``), ``WaitTimeoutError`` at the deadline (the job keeps running),
    and the provider's non-transient errors. Transient errors are retried with backoff.

    >>> job = wait(provider, "ftjob-abc", interval=10, timeout=3600)  # doctest: +SKIP
    """
    if interval < 0:
        raise ValueError("interval must be >= 0")
    deadline = None if timeout is None else time.monotonic() + timeout
    cursor = EventCursor(provider, job_id, after=events_after)
    last_status: str | None = None
    job: Job | None = None

    def timed_out() -> WaitTimeoutError:
        status = f" (status: {job.status})" if job else ""
        return WaitTimeoutError(
            f"job {job_id} did not finish within {timeout:g} s{status}",
            job=job,
            hint=f"it keeps running; wait again with `anytune wait {job_id}`",
        )

    while True:
        try:
            job = retry_transient(lambda: provider.get_job(job_id), deadline=deadline)
            if on_event is not None:
                for event in retry_transient(cursor.fetch, deadline=deadline):
                    on_event(event)
        except Exception:
            if deadline is not None and time.monotonic() >= deadline:
                raise timed_out() from None
            raise
        if on_status is not None and str(job.status) != last_status:
            on_status(job)
        last_status = str(job.status)
        if job.is_terminal:
            if on_event is not None:
                # Events written between the last two calls (e.g. "job succeeded").
                for event in retry_transient(cursor.fetch, deadline=deadline):
                    on_event(event)
            return _finish(job, raise_on_failure)
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out()
            sleep(min(interval, remaining))
        else:
            sleep(interval)


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
