"""Exactly-once job creation over an API without idempotency keys: the one copy of the protocol.

A provider gives three things: ``send()`` (create the job once; errors already translated),
``lookup()`` (every job carrying *this* request: by a client-chosen id in the job's metadata
on OpenAI, by model, files and suffix on Together) and ``cancel(job_id)``.

After a failure that may have reached the server (``may_have_committed``: a dropped
connection, a timeout, a 5xx), the request is looked up before anything is sent again -- and
not just once: a server can commit a create *after* the client gave up on it (a 4 s server
delay against a 1 s timeout), so the look-up is repeated with backoff for up to ``window``
seconds. If nothing shows up the create is sent again; then the request is looked up again for
up to ``window`` seconds, and if the earlier attempt did land after all, every job but the
oldest one found is cancelled and reported (``DuplicateJobWarning``, naming the jobs kept and
cancelled). Keeping the *oldest* (not "the one this call created") makes two processes racing
with the same request agree on which job survives.

A create that commits later than both windows can still leave a second job.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

from anytune.errors import AnytuneError, TransientError
from anytune.retry import may_have_committed, retry_transient
from anytune.types import Job, is_terminal

log = logging.getLogger("anytune.exactly_once")

DEFAULT_WINDOW = 10.0
"""Seconds to keep looking for a create that may commit late (before and after re-sending)."""
FIRST_DELAY = 0.25
MAX_DELAY = 4.0


class DuplicateJobWarning(UserWarning):
    """A create took effect more than once; the extra jobs were cancelled (or could not be).

    ``kept`` is the job that ``create_job`` returned; ``cancelled`` the duplicates now
    cancelled; ``not_cancelled`` those whose cancel failed (they may be billed: cancel them);
    ``request_id`` the client-chosen id of the request, where the provider has one.
    """

    def __init__(
        self,
        message: str,
        *,
        kept: str,
        cancelled: tuple[str, ...],
        not_cancelled: tuple[str, ...],
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.request_id = request_id
        self.kept = kept
        self.cancelled = cancelled
        self.not_cancelled = not_cancelled


class CreateOnce:
    """One exactly-once create (see the module docstring).

    ``send`` and ``lookup`` raise ``TransientError`` for retryable failures. ``request`` names
    the request in messages (e.g. "the create with anytune_request_id=R"); ``unknown_hint`` is
    the hint on the error when retries run out and the job may or may not exist.
    ``look_first``: look the request up before the first send too, and once more after a
    create that answered -- for a request id the caller chose, which an earlier run or another
    process may be using.
    """

    def __init__(
        self,
        *,
        provider: str,
        send: Callable[[], Job],
        lookup: Callable[[], list[Job]],
        cancel: Callable[[str], Job],
        attempts: int,
        window: float,
        request: str = "the create",
        unknown_hint: str | None = None,
        look_first: bool = False,
        request_id: str | None = None,
        on_retry: Callable[[TransientError, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger = log,
    ):
        self.provider = provider
        self.request = request
        self.request_id = request_id
        self._send = send
        self._lookup = lookup
        self._cancel = cancel
        self.attempts = max(1, attempts)
        self.window = max(0.0, window)
        self._unknown_hint = unknown_hint or (
            f"the job may or may not exist: look with `anytune list -p {provider}` before "
            "creating it again"
        )
        self._on_retry = on_retry
        self._sleep = sleep
        self._log = logger
        self._user_chosen = look_first
        self._look_first = look_first
        self._ambiguous = 0
        """Sent creates whose outcome is unknown: each may still commit."""
        self._created = False
        """Whether the last attempt's create answered (rather than a look-up finding one)."""
        self._found: list[Job] = []

    # -- the protocol ------------------------------------------------------------------------
    def run(self) -> Job:
        try:
            job = retry_transient(self._attempt, attempts=self.attempts, on_retry=self._on_retry)
        except TransientError as exc:
            if self._look_first:
                try:
                    found = self._lookup()
                except TransientError:
                    found = []
                if found:
                    return self._keep_one(found)
                exc.hint = self._unknown_hint
            raise
        known = [job] if self._created else self._found
        # Every create sent may commit; once that many jobs are seen, nothing is pending.
        expected = self._ambiguous + (1 if self._created else 0)
        try:
            if self._ambiguous and len(known) < expected:
                found = self._poll(lambda jobs: len(_union(jobs, known)) >= expected, self.window)
                known = _union(found, known)
            elif self._user_chosen and self._created:
                # Another process may be creating with the same caller-chosen id right now.
                known = _union(self._lookup(), known)
        except TransientError as exc:
            # The job exists: a failed duplicate check must not make the create look failed.
            self._log.info("%s: could not check %s for duplicates: %s", self.provider, job.id, exc)
        return self._keep_one(known)

    def _attempt(self) -> Job:
        self._created = False
        if self._look_first:
            # After an ambiguous failure, a late commit may take a while to show up.
            window = self.window if self._ambiguous else 0.0
            found = self._poll(bool, window)
            if found:
                self._log.info(
                    "%s: the create already took effect as %s", self.provider, found[0].id
                )
                self._found = found
                return found[0]
        try:
            job = self._send()
        except TransientError as exc:
            if may_have_committed(exc):
                self._look_first = True
                self._ambiguous += 1
            raise
        self._created = True
        return job

    def _poll(self, done: Callable[[list[Job]], bool], window: float) -> list[Job]:
        deadline = time.monotonic() + window
        delay = FIRST_DELAY
        while True:
            found = self._lookup()
            remaining = deadline - time.monotonic()
            if done(found) or remaining <= 0:
                return found
            self._sleep(min(delay, remaining))
            delay = min(MAX_DELAY, delay * 2)

    # -- keeping one ---------------------------------------------------------------------
    def _keep_one(self, jobs: list[Job]) -> Job:
        ordered = sorted(jobs, key=lambda j: (j.created_at, j.id))
        kept = ordered[0]
        # A duplicate already ended (cancelled by a process racing with the same request)
        # needs nothing more.
        extra = [j for j in ordered[1:] if not is_terminal(j.status)]
        if not extra:
            return kept
        cancelled: list[str] = []
        failed: list[str] = []
        for duplicate in extra:
            try:
                self._cancel(duplicate.id)
                cancelled.append(duplicate.id)
            except AnytuneError as exc:
                self._log.info(
                    "%s: could not cancel duplicate %s: %s", self.provider, duplicate.id, exc
                )
                failed.append(duplicate.id)
        message = (
            f"{self.provider}: {self.request} took effect {len(extra) + 1} times (a request "
            f"committed after its timeout); kept {kept.id}"
        )
        if cancelled:
            message += f", cancelled the duplicate(s) {', '.join(cancelled)}"
        if failed:
            message += (
                f"; could NOT cancel {', '.join(failed)}: cancel them yourself "
                f"(anytune cancel JOB -p {self.provider}) or they may be billed"
            )
        # A warning, not only a log record: callers can catch it (and the ids in it), and the
        # CLI shows it once, as "Warning: ...".
        self._log.info("%s", message)
        warnings.warn(
            DuplicateJobWarning(
                message,
                request_id=self.request_id,
                kept=kept.id,
                cancelled=tuple(cancelled),
                not_cancelled=tuple(failed),
            ),
            stacklevel=2,
        )
        return kept


def _union(found: list[Job], known: list[Job]) -> list[Job]:
    """Both lists, each job once (the list endpoint may lag behind a create that answered)."""
    ids = {j.id for j in found}
    return [*found, *(j for j in known if j.id not in ids)]


__all__ = ["DEFAULT_WINDOW", "CreateOnce", "DuplicateJobWarning", "may_have_committed"]
