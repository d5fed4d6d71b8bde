"""Exactly-once job creation on an API with no idempotency key and no job metadata.

Together's ``POST /v1/fine-tunes`` takes neither an idempotency key nor metadata, so a create
whose answer is lost cannot be recognised by an id the client chose. What identifies it is
what it asked for: the model, the files and the suffix (``_convert.fingerprint``). Before the
first send, the jobs already matching that fingerprint are noted; after a failure that may
have reached the server (dropped connection, timeout, 5xx), the jobs list is read -- repeatedly,
for up to ``window`` seconds, since a create can commit after the client gave up -- and a new
matching job is taken as this create's instead of sending it again. If the create is sent
again and the earlier attempt shows up late after all, every new matching job but the oldest
is cancelled and reported (``DuplicateJobWarning``).

Limit: another process creating an identical job (same model, files and suffix) during that
window would be taken for this one. A distinct ``--suffix`` per run avoids it.

(This is the openai provider's ``CreateOnce`` protocol with a fingerprint look-up instead of
a metadata look-up; the core does not own the protocol yet.)
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

from anytune.errors import AnytuneError, TransientError
from anytune.retry import backoff_delay, retry_transient
from anytune.types import Job, is_terminal
from anytune_together._errors import may_have_committed

log = logging.getLogger("anytune.together")

DEFAULT_WINDOW = 10.0
FIRST_DELAY = 0.25
MAX_DELAY = 4.0


class DuplicateJobWarning(UserWarning):
    """A create took effect more than once; the extra jobs were cancelled (or could not be)."""

    def __init__(
        self, message: str, *, kept: str, cancelled: tuple[str, ...], failed: tuple[str, ...]
    ):
        super().__init__(message)
        self.kept = kept
        self.cancelled = cancelled
        self.not_cancelled = failed


class CreateOnce:
    """``send()`` creates and returns the job; ``matching()`` lists every job with this
    create's fingerprint; ``cancel(id)`` cancels one. All translate errors already."""

    def __init__(
        self,
        *,
        provider: str,
        send: Callable[[], Job],
        matching: Callable[[], list[Job]],
        cancel: Callable[[str], Job],
        attempts: int,
        window: float,
        on_retry: Callable[[TransientError, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.provider = provider
        self._send = send
        self._matching = matching
        self._cancel = cancel
        self.attempts = max(1, attempts)
        self.window = max(0.0, window)
        self._on_retry = on_retry
        self._sleep = sleep
        self._before: set[str] = set()

    def _new(self) -> list[Job]:
        return [j for j in self._matching() if j.id not in self._before]

    def _poll(self, done: Callable[[list[Job]], bool]) -> list[Job]:
        deadline = time.monotonic() + self.window
        delay = FIRST_DELAY
        while True:
            try:
                found = self._new()
            except TransientError:
                found = []
            remaining = deadline - time.monotonic()
            if done(found) or remaining <= 0:
                return found
            self._sleep(min(delay, remaining))
            delay = min(MAX_DELAY, delay * 2)

    def run(self) -> Job:
        # One list request per create buys the ability to recognise a lost create at all
        # (retried like any read: nothing has been sent yet).
        before = retry_transient(self._matching, attempts=self.attempts, on_retry=self._on_retry)
        self._before = {j.id for j in before}
        ambiguous = 0
        for attempt in range(1, self.attempts + 1):
            if ambiguous:
                found = self._poll(bool)
                if found:
                    log.info("%s: the create already took effect as %s", self.provider, found[0].id)
                    return self._keep_one(found)
            try:
                job = self._send()
            except TransientError as exc:
                if may_have_committed(exc):
                    ambiguous += 1
                if attempt == self.attempts:
                    if ambiguous:
                        found = self._poll(bool)
                        if found:
                            return self._keep_one(found)
                        exc.hint = (
                            f"the job may or may not exist: look with `anytune list -p "
                            f"{self.provider}` before creating it again"
                        )
                    raise
                delay = backoff_delay(attempt, exc)
                if self._on_retry is not None:
                    self._on_retry(exc, delay)
                self._sleep(delay)
                continue
            if not ambiguous:
                return job
            # An earlier attempt may still commit late: wait for it (bounded) and keep one.
            return self._settle(job, ambiguous + 1)
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, job: Job, expected: int) -> Job:
        """After a re-send answered: wait (bounded) for the ``expected`` jobs, keep one."""
        found = self._poll(lambda jobs: len(_union(jobs, [job])) >= expected)
        return self._keep_one(_union(found, [job]))

    def _keep_one(self, jobs: list[Job]) -> Job:
        ordered = sorted(jobs, key=lambda j: (j.created_at, j.id))
        kept = ordered[0]
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
                log.info("%s: could not cancel duplicate %s: %s", self.provider, duplicate.id, exc)
                failed.append(duplicate.id)
        message = (
            f"{self.provider}: the create took effect {len(extra) + 1} times (a request "
            f"committed after its timeout); kept {kept.id}"
        )
        if cancelled:
            message += f", cancelled the duplicate(s) {', '.join(cancelled)}"
        if failed:
            message += (
                f"; could NOT cancel {', '.join(failed)}: cancel them yourself "
                f"(anytune cancel JOB -p {self.provider}) or they may be billed"
            )
        log.warning("%s", message)
        warnings.warn(
            DuplicateJobWarning(
                message, kept=kept.id, cancelled=tuple(cancelled), failed=tuple(failed)
            ),
            stacklevel=2,
        )
        return kept


def _union(found: list[Job], known: list[Job]) -> list[Job]:
    ids = {j.id for j in found}
    return [*found, *(j for j in known if j.id not in ids)]
