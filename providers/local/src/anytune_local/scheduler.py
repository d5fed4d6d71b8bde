"""Which job trains when, and noticing workers that died.

- One job trains at a time per store by default (``ANYTUNE_LOCAL_MAX_JOBS`` raises it).
  A training slot is an exclusive ``flock`` on ``slots/slot-<n>.lock``, held by the worker
  for as long as it trains, so the kernel frees it if the worker dies. Waiting workers go
  in submission order: a job may take a slot only when fewer than ``max_jobs`` jobs
  submitted before it are still waiting.
- A job in an active status whose worker process is gone (killed, machine restarted, pid
  now used by another process) is marked ``failed`` with code ``worker_died`` the next
  time anyone looks at it; ``anytune resume`` continues it from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import time
from pathlib import Path

import psutil

from anytune_local import processes
from anytune_local.checkpoints import newest_usable
from anytune_local.store import ACTIVE_STATUSES, JobRecord, Store

MAX_JOBS_ENV = "ANYTUNE_LOCAL_MAX_JOBS"
SPAWN_GRACE = 60.0
"""Seconds a job may sit without a recorded worker pid before it counts as dead."""
HEARTBEAT_TIMEOUT = 120.0
"""For a worker on another host (a shared home): silence after which it counts as dead."""
HEARTBEAT_INTERVAL = 10.0
WAITING_STATUSES = ("validating_files", "queued")
WORKER_LOG_HEADER = "anytune worker started:"
"""First line each worker writes to the job's log (one per attempt)."""


def max_jobs() -> int:
    """How many jobs may train at once in one store (``$ANYTUNE_LOCAL_MAX_JOBS``, default 1)."""
    raw = os.environ.get(MAX_JOBS_ENV, "1")
    try:
        return max(1, int(raw))
    except ValueError:
        return 1


class Slot:
    """A held training slot. Released by ``release()`` or when the process exits."""

    def __init__(self, fd: int, index: int) -> None:
        self.fd = fd
        self.index = index

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
            self.fd = -1


def try_acquire_slot(store: Store, count: int) -> Slot | None:
    """Take any free slot of ``count`` without waiting."""
    store.slots_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        fd = processes.open_private(store.slots_dir / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(fd, index)
    return None


def jobs_ahead(store: Store, job_id: str) -> int | None:
    """How many jobs submitted before ``job_id`` are still waiting (None: it is not waiting)."""
    waiting = [r.id for r in store.jobs_with_status(WAITING_STATUSES)]
    return waiting.index(job_id) if job_id in waiting else None


def jobs_before(store: Store, job_id: str) -> int:
    """Active jobs (waiting or training) submitted before ``job_id``."""
    active = store.jobs_with_status(ACTIVE_STATUSES)
    mine = next((r.seq for r in active if r.id == job_id), None)
    return 0 if mine is None else sum(1 for r in active if r.seq < mine)


def wait_for_slot(
    store: Store, job_id: str, *, attempt: int | None = None, interval: float = 0.25
) -> Slot | None:
    """Block until ``job_id`` may train and hold a slot for it.

    Returns None as soon as the job leaves ``queued`` (cancelled or paused while waiting) or
    moves on to another ``attempt`` (paused, then resumed by a new worker).
    Jobs ahead whose workers died are marked failed on the way, so they never block the queue.
    """
    count = max_jobs()
    last_reconcile = 0.0
    last_heartbeat = time.monotonic()
    while True:
        record = store.get_job(job_id)
        if record is None or record.status != "queued":
            return None
        if attempt is not None and record.attempt != attempt:
            return None
        now = time.monotonic()
        if now - last_reconcile > 2.0:
            for other in store.jobs_with_status(ACTIVE_STATUSES):
                if other.id != job_id:
                    reconcile(store, other)
            last_reconcile = now
        if now - last_heartbeat > HEARTBEAT_INTERVAL:
            store.update_job(job_id, heartbeat=time.time())
            last_heartbeat = now
        ahead = jobs_ahead(store, job_id)
        if ahead is not None and ahead < count:
            slot = try_acquire_slot(store, count)
            if slot is not None:
                return slot
        time.sleep(interval)


# -- workers -------------------------------------------------------------------------------
def worker_argv(store: Store, job_id: str, *, attempt: int, resume: bool) -> list[str]:
    argv = processes.python_argv("-m", "anytune_local.worker", "supervise")
    argv += ["--home", str(store.home), "--job", job_id, "--attempt", str(attempt)]
    return [*argv, "--resume"] if resume else argv


def start_worker(store: Store, job_id: str, *, attempt: int, resume: bool = False) -> int:
    """Start the detached worker process that takes ``attempt`` of ``job_id`` to a final
    status (a worker started for an earlier attempt exits without touching the job)."""
    job_dir = store.job_dir(job_id)
    pid = processes.spawn_detached(
        worker_argv(store, job_id, attempt=attempt, resume=resume),
        log_path=job_dir / "worker.log",
        env=processes.isolated_env(PYTHONUNBUFFERED="1"),
        cwd=job_dir,
    )
    store.claim_worker(
        job_id,
        attempt,
        pid=pid,
        started=processes.start_time(pid),
        host=processes.hostname(),
    )
    return pid


def signal_worker(record: JobRecord, signum: int) -> None:
    """Send ``signum`` to the job's worker if it runs on this machine and is still the same
    process (a worker on another machine sharing the home stops through the store)."""
    if record.worker_host not in (None, processes.hostname()):
        return
    if record.worker_pid is not None and processes.is_alive(
        record.worker_pid, record.worker_started
    ):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.worker_pid, signum)


def kill_worker(store: Store, record: JobRecord) -> None:
    """The worker did not stop in time: kill its whole tree and record the cancel."""
    if record.worker_pid is not None and processes.is_alive(
        record.worker_pid, record.worker_started
    ):
        processes.kill_tree(record.worker_pid)
    if record.training_pid is not None:
        stop_orphan(record.training_pid, record.id)
    store.transition(
        record.id,
        ACTIVE_STATUSES,
        "cancelled",
        finished_at=time.time(),
        event="Job cancelled (worker killed).",
    )


def worker_alive(record: JobRecord) -> bool:
    """Whether the job's worker is (or may still be) running."""
    now = time.time()
    if record.worker_pid is None:
        return now - max(record.created_at, record.heartbeat or 0.0) < SPAWN_GRACE
    if record.worker_host and record.worker_host != processes.hostname():
        return record.heartbeat is not None and now - record.heartbeat < HEARTBEAT_TIMEOUT
    return processes.is_alive(record.worker_pid, record.worker_started)


def resume_hint(store: Store, job_id: str) -> str:
    """What `anytune resume JOB` would do, for error messages."""
    choice = newest_usable(store, job_id)
    if choice.path is None:
        return f"run `anytune resume {job_id}` to start it again (no usable checkpoint was saved)"
    return (
        f"run `anytune resume {job_id}` to continue from the checkpoint at step {choice.step} "
        f"({choice.path})"
    )


def reconcile(store: Store, record: JobRecord) -> JobRecord:
    """Mark ``record`` failed (or cancelled, if that was asked) when its worker is gone."""
    if record.status not in ACTIVE_STATUSES or worker_alive(record):
        return record
    now = time.time()
    if record.requested_action == "cancel":
        store.transition(
            record.id,
            ACTIVE_STATUSES,
            "cancelled",
            if_attempt=record.attempt,
            finished_at=now,
            event="Job cancelled.",
        )
    else:
        message = dead_worker_message(store, record)
        store.transition(
            record.id,
            ACTIVE_STATUSES,
            "failed",
            if_attempt=record.attempt,
            finished_at=now,
            error_code="worker_died",
            error_message=message,
            event=f"Job failed: {message}",
            level="error",
        )
    if record.training_pid is not None:
        stop_orphan(record.training_pid, record.id)
    fresh = store.get_job(record.id)
    return fresh if fresh is not None else record


def dead_worker_message(store: Store, record: JobRecord) -> str:
    pid = record.worker_pid
    exit_status = processes.exit_status_of(pid) if pid is not None else None
    if pid is None:
        what = "the worker process never started"
    elif exit_status is not None:
        what = f"worker process {pid} {processes.describe_exit(exit_status)}"
    else:
        what = f"worker process {pid} is no longer running (killed, or the machine restarted)"
    detail = last_log_error(store.job_dir(record.id) / "worker.log")
    if detail:
        what += f"; last error in the log: {detail}"
    return f"{what}; {resume_hint(store, record.id)}"


def stop_orphan(pid: int, job_id: str) -> None:
    """Kill a training process left behind by a dead worker, if it is still ours."""
    try:
        proc = psutil.Process(pid)
        if job_id in " ".join(proc.cmdline()):
            processes.kill_tree(pid)
    except psutil.Error:
        pass


def _latest_attempt(log_path: Path, max_bytes: int) -> list[str]:
    """The lines of a worker log's latest attempt, from its last ``max_bytes`` bytes."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = tail.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(WORKER_LOG_HEADER)]
    return lines[starts[-1] + 1 :] if starts else lines


def last_log_error(log_path: Path, *, max_bytes: int = 65536) -> str | None:
    """The last line of a worker log that looks like an error, shortened for a message."""
    markers = ("Error", "error:", "Exception", "Killed", "Traceback")
    for line in reversed(_latest_attempt(log_path, max_bytes)):
        text = line.strip()
        if (
            text
            and any(marker in text for marker in markers)
            and text != "Traceback (most recent call last):"
        ):
            return text if len(text) <= 300 else text[:297] + "..."
    return None


_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
_EXITCODE = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)")


def failed_rank(log_path: Path, *, max_bytes: int = 65536) -> tuple[int, int] | None:
    """``(rank, returncode)`` of the process that made a torchrun run fail, from the failure
    summary torchrun prints (its latest in the latest attempt), or None without one.

    A rank killed by a signal other than SIGTERM (SIGKILL from the out-of-memory killer, a
    crash) is the cause: the others then fail on their broken connection to it (a gloo error)
    or are stopped by torchrun with SIGTERM, and either may be what torchrun saw first.
    Otherwise it is torchrun's root cause (the first failure it observed)."""
    lines = _latest_attempt(log_path, max_bytes)
    starts = [i for i, line in enumerate(lines) if "ChildFailedError" in line]
    if not starts:
        return None
    failures: list[tuple[int, int]] = []
    rank: int | None = None
    for line in lines[starts[-1] :]:
        if found := _RANK.match(line):
            rank = int(found.group(1))
        elif (found := _EXITCODE.match(line)) and rank is not None:
            failures.append((rank, int(found.group(1))))
            rank = None
    if not failures:
        return None
    killed = [f for f in failures if f[1] < 0 and f[1] != -signal.SIGTERM]
    root = failures[-1]  # the summary lists the other failures first, the root cause last
    return root if root in killed or not killed else killed[0]
