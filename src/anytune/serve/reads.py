"""Reads of a job and its events, shared by everyone who polls it.

Fifty clients polling one job must cost about what one does, in three layers:

- the provider's view of a job is read at most once per ``cache_seconds`` (never again once
  it is final), and its events are copied into the server's state at most as often;
- the answers to ``GET /v1/fine_tuning/jobs/{id}`` and ``GET .../{id}/events`` are kept
  serialized (``Answers``), each with the version of what it was built from, and sent again
  as they are until that version changes;
- ``kept()`` hands such an answer to ``app.FastReads``, which sends it straight from the
  event loop: no thread, no FastAPI dependency, no serializer (about a tenth of the CPU).

A version changes whenever what an answer shows may have changed: a fresh read of the job,
a job returned by create / cancel / pause / resume, new events, a deleted model, a forgotten
job. Versions come from one process-wide counter, so a forgotten and re-created job can
never match an answer kept for its predecessor.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from anytune.provider import Provider
from anytune.serve.errors import APIError, not_found
from anytune.serve.shapes import event_json, job_json, page
from anytune.serve.state import JobRow, State

_FINAL = frozenset({"succeeded", "cancelled"})
"""Statuses a job never leaves (a failed local job may be resumed), so reads are cached."""
ANSWER_BYTES = 32 * 1024 * 1024
"""Most bytes of kept answers in all (least recently used go first)."""
JOB, EVENTS = "job", "events"

_ENTRY_BYTES = 256
"""What one kept answer costs beyond its body (key, tuple, dictionary slot), counted too:
a client that varies its query string at every poll fills the cache with small answers."""

_versions = itertools.count(1)  # next() is atomic under the GIL
# What FastAPI itself uses for a ``dict[str, Any]`` route: the same bytes (NaN as null).
_DUMP = TypeAdapter(dict[str, Any]).dump_json

Key = tuple[str, str, str, bytes]
"""``(project, job id, JOB or EVENTS, raw query string)``."""


def _version() -> int:
    return next(_versions)


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    job: Any = None
    job_at: float = 0.0
    events_at: float = 0.0
    job_version: int = field(default_factory=_version)
    events_version: int = field(default_factory=_version)


class Answers:
    """Serialized answers by ``Key``, each with its version; bounded by ``max_bytes``."""

    def __init__(self, max_bytes: int = ANSWER_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Key, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Key, version: int) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: Key, version: int, body: bytes) -> None:
        if _cost(key, body) > self.max_bytes // 8:
            return  # a huge page would push out everything else for one client
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= _cost(key, old[1])
            self._items[key] = (version, body)
            self._bytes += _cost(key, body)
            while self._bytes > self.max_bytes:
                dropped_key, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= _cost(dropped_key, dropped)


def _cost(key: Key, body: bytes) -> int:
    return len(body) + len(key[3]) + _ENTRY_BYTES


def job_body(row: JobRow, job: Any, redact: Callable[[str], str]) -> dict[str, Any]:
    """``fine_tuning.job`` as the project sees it, no server path in its error message."""
    body = job_json(row, job, row.project)
    if body["error"] is not None:
        body["error"]["message"] = redact(body["error"]["message"])
    return body


class JobReads:
    def __init__(
        self,
        *,
        provider: Provider,
        state: State,
        call: Callable[..., Any],
        redact: Callable[[str], str],
        cache_seconds: float,
        answers: Answers | None = None,
    ) -> None:
        self.provider = provider
        self.state = state
        self.call = call
        self.redact = redact
        self.cache_seconds = cache_seconds
        self.answers = answers if answers is not None else Answers()
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, job_id: str) -> _Entry:
        with self._lock:
            return self._entries.setdefault(job_id, _Entry())

    def _row(self, project: str, job_id: str) -> JobRow:
        row = self.state.get_job(project, job_id)
        if row is None:
            raise not_found(f"Could not find fine-tuning job: {job_id}", param="fine_tuning_job_id")
        return row

    # -- the provider's view, shared ------------------------------------------------------
    def _job(self, entry: _Entry, job_id: str, fresh: bool) -> Any:
        """The provider's job; ``entry.lock`` held."""
        if not fresh and entry.job is not None and str(entry.job.status) in _FINAL:
            return entry.job
        if fresh or entry.job is None or time.monotonic() - entry.job_at >= self.cache_seconds:
            job = self.call(self.provider.get_job, job_id)
            entry.job, entry.job_at, entry.job_version = job, time.monotonic(), _version()
        return entry.job

    def job(self, job_id: str, *, fresh: bool = False) -> Any:
        entry = self._entry(job_id)
        with entry.lock:
            return self._job(entry, job_id, fresh)

    def remember(self, job_id: str, job: Any) -> None:
        """``job`` is what the provider just answered (create, cancel, ...): newer than any."""
        entry = self._entry(job_id)
        with entry.lock:
            entry.job, entry.job_at, entry.job_version = job, time.monotonic(), _version()

    def changed(self, job_id: str) -> None:
        """The server's own record of the job changed (its model was deleted)."""
        entry = self._entry(job_id)
        with entry.lock:
            entry.job_version = _version()

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._entries.pop(job_id, None)

    def _sync(self, entry: _Entry, job_id: str) -> None:
        """Copy events the provider has and the server has not yet seen; ``entry.lock`` held."""
        # A client that has seen a status must see the events up to it: read again
        # whenever the job was read since the last copy, else at most once per period.
        recent = time.monotonic() - entry.events_at < self.cache_seconds
        if recent and entry.job_at <= entry.events_at:
            return
        seq, last = self.state.last_event(job_id)
        try:
            events = self.call(self.provider.list_events, job_id, after=last)
        except APIError:
            if last is None:
                raise
            events = self.call(self.provider.list_events, job_id)
        if events:
            bodies = [(e.id, event_json(e)) for e in events]
            for _, body in bodies:
                body["message"] = self.redact(body["message"])
            self.state.add_events(job_id, seq, bodies)
            entry.events_version = _version()
        entry.events_at = time.monotonic()

    def sync_events(self, job_id: str) -> None:
        entry = self._entry(job_id)
        with entry.lock:
            self._sync(entry, job_id)

    # -- answers ----------------------------------------------------------------------------
    def job_answer(self, project: str, job_id: str, query: bytes) -> bytes:
        """``GET /v1/fine_tuning/jobs/{id}``'s JSON; 404 for another project's job."""
        self._row(project, job_id)  # before an entry is kept for an id nobody has
        entry = self._entry(job_id)
        with entry.lock:
            row = self._row(project, job_id)  # again under the lock: a deleted model shows
            job = self._job(entry, job_id, False)
            key = (project, job_id, JOB, query)
            body = self.answers.get(key, entry.job_version)
            if body is None:
                body = _DUMP(job_body(row, job, self.redact))
                self.answers.put(key, entry.job_version, body)
            return body

    def events_answer(
        self, project: str, job_id: str, query: bytes, *, after: str | None, limit: int
    ) -> bytes:
        """``GET .../{id}/events``'s JSON (``after`` and ``limit`` parsed from ``query``)."""
        self._row(project, job_id)
        entry = self._entry(job_id)
        with entry.lock:
            self._sync(entry, job_id)
            key = (project, job_id, EVENTS, query)
            body = self.answers.get(key, entry.events_version)
            if body is None:
                data, has_more = self.state.events_page(job_id, after=after, limit=limit)
                body = _DUMP(page(data, has_more))
                self.answers.put(key, entry.events_version, body)
            return body

    def kept(self, project: str, job_id: str, route: str, query: bytes) -> bytes | None:
        """The kept answer when it is still what a full read would give, else None.

        Called on the event loop, so it never waits: a read in progress (lock held) means
        None, and the request takes the full path, which then shares that read."""
        entry = self._entries.get(job_id)
        if entry is None or not entry.lock.acquire(blocking=False):
            return None
        try:
            now = time.monotonic()
            if route == JOB:
                if entry.job is None:
                    return None
                final = str(entry.job.status) in _FINAL
                if not final and now - entry.job_at >= self.cache_seconds:
                    return None
                version = entry.job_version
            else:
                if now - entry.events_at >= self.cache_seconds or entry.job_at > entry.events_at:
                    return None
                version = entry.events_version
            return self.answers.get((project, job_id, route, query), version)
        finally:
            entry.lock.release()
