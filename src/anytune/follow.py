"""Following a job from a thread: the wait loop runs in a daemon thread and hands each event
to the consumer (``Client.jobs.events(follow=True)`` and its async mirror), until the job ends
or the consumer stops it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from anytune.polling import wait
from anytune.provider import Provider
from anytune.types import Event

Sleep = Callable[[float], None]


class Stopped(Exception):
    """Raised inside the polling thread when its consumer has gone away."""


class Follower:
    """Runs the wait loop in a thread, handing each event to ``deliver``, until the job ends
    or ``stop()`` is called (the thread then stops at its next sleep or event)."""

    def __init__(
        self,
        provider: Provider,
        job_id: str,
        *,
        after: str | None,
        interval: float,
        deliver: Callable[[Event], None],
        finished: Callable[[BaseException | None], None],
    ):
        self._stop = threading.Event()

        def on_event(event: Event) -> None:
            if self._stop.is_set():
                raise Stopped
            deliver(event)

        def run() -> None:
            error: BaseException | None = None
            try:
                wait(
                    provider,
                    job_id,
                    interval=interval,
                    on_event=on_event,
                    events_after=after,
                    raise_on_failure=False,
                    sleep=stoppable_sleep(self._stop),
                )
            except Stopped:
                pass
            except BaseException as exc:  # handed to the consumer
                error = exc
            finished(error)

        self.thread = threading.Thread(target=run, name=f"anytune-follow-{job_id}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()


def stoppable_sleep(stop: threading.Event) -> Sleep:
    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Stopped

    return sleep


class End:
    """The follow thread finished (with ``error`` if it failed)."""

    def __init__(self, error: BaseException | None):
        self.error = error


__all__ = ["End", "Follower", "Sleep", "Stopped", "stoppable_sleep"]
