"""A job's events: the JSON lines its runs append to ``runs/<n>/events.jsonl`` in storage
(``anytune_local.run_spec``'s format, plus the lines the client writes: submitted, ended).

An event's id is ``ftevent-<run>-<byte offset of its line>``, so ``after=ID`` reads only
what follows it: one seek, never the whole history (Ray's logs route has no offset, which is
why events do not come from the driver log). A cursor that is not the start of an event line
of this job is ``NotFoundError``. A last line without its newline is still being written and
is left for the next poll.
"""

from __future__ import annotations

import json
import re

from anytune.errors import NotFoundError
from anytune.types import Event, Metrics
from anytune_ray.storage import Storage

NAME = "ray"
_ID = re.compile(r"ftevent-(\d+)-(\d+)")


def events_path(storage: Storage, job_id: str, run: int) -> str:
    return storage.path("jobs", job_id, "runs", str(run), "events.jsonl")


def read_events(storage: Storage, job_id: str, runs: int, after: str | None) -> list[Event]:
    run, offset = 0, 0
    if after is not None:
        run, offset = _cursor(storage, job_id, runs, after)
    events: list[Event] = []
    for current in range(run, runs):
        start = offset if current == run else 0
        data = storage.read_from(events_path(storage, job_id, current), start)
        events += _parse(data, current, start)
    if after is not None:
        events = [e for e in events if e.id != after]
    return events


def _cursor(storage: Storage, job_id: str, runs: int, after: str) -> tuple[int, int]:
    found = _ID.fullmatch(after)
    missing = NotFoundError(f"job {job_id} has no event {after!r}", provider=NAME)
    if found is None:
        raise missing
    run, offset = int(found.group(1)), int(found.group(2))
    path = events_path(storage, job_id, run) if run < runs else ""
    if not path or storage.byte_before(path, offset) != b"\n":
        raise missing
    first = _parse(storage.read_from(path, offset).split(b"\n", 1)[0] + b"\n", run, offset)
    if not first or first[0].id != after:
        raise missing
    return run, offset


def _parse(data: bytes, run: int, start: int) -> list[Event]:
    events = []
    position = start
    for raw in data.splitlines(keepends=True):
        here, position = position, position + len(raw)
        if not raw.endswith(b"\n"):
            break  # still being written
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("kind") != "event":
            continue
        metrics = record.get("metrics")
        events.append(
            Event(
                id=f"ftevent-{run}-{here}",
                created_at=int(record.get("created_at") or 0),
                level=str(record.get("level") or "info"),
                message=str(record.get("message") or ""),
                metrics=Metrics.from_dict(metrics) if isinstance(metrics, dict) else None,
            )
        )
    return events


def latest_metrics(storage: Storage, job_id: str, run: int, tail: int = 8192) -> Metrics | None:
    """The newest step metrics of ``run`` from the last ``tail`` bytes of its events."""
    path = events_path(storage, job_id, run)
    try:
        size = int(storage.fs.size(path))
    except (FileNotFoundError, OSError):
        return None
    start = max(0, size - tail)
    data = storage.read_from(path, start)
    if start:
        data = data.split(b"\n", 1)[-1]
    for event in reversed(_parse(data, run, 0)):
        if event.metrics is not None and event.metrics.step is not None:
            return event.metrics
    return None
