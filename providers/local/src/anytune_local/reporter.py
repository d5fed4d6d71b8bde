"""The recipe's view of the job: a ``Reporter`` (see ``anytune_local.recipe``) that writes
events, checkpoints, progress and resolved hyperparameters to the store and answers
``should_stop``.

Under torchrun every rank gets one; only rank 0 writes, every rank reads ``should_stop``.

A report must never stop training. Writes wait at most ``WRITE_WAIT`` seconds for the
store's lock; one that cannot be made then is kept, in order, and retried with backoff at
the next report (``flush`` at the end waits longer). Checkpoint records are never dropped;
if more than ``MAX_PENDING`` progress reports pile up behind a long-held lock, the oldest
are dropped and an event says how many.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.errors import StorageError
from anytune.types import Metrics
from anytune_local.processes import parent_gone
from anytune_local.store import Store, StoreBusyError

STOP_ACTIONS = ("pause", "cancel")
WRITE_WAIT = 1.0
"""Seconds one report waits for the store's write lock before it is queued instead."""
MAX_PENDING = 1000
BACKOFF_MAX = 30.0
FLUSH_PATIENCE = 600.0
"""Seconds ``flush`` keeps retrying queued reports once training is over."""


@dataclass
class _Write:
    run: Callable[[], Any]
    essential: bool
    """Checkpoint records and resolved hyperparameters: never dropped."""
    kind: str = "event"


class StoreReporter:
    """Reports one job's training progress into the store.

    ``primary`` is False on torchrun ranks other than 0: they only ask ``should_stop``.
    ``parent_pid`` is the process that started this one; if it goes away the training is
    orphaned and ``should_stop`` answers ``"cancel"``.
    """

    def __init__(
        self,
        store: Store,
        job_id: str,
        *,
        primary: bool = True,
        parent_pid: int | None = None,
        write_wait: float = WRITE_WAIT,
    ) -> None:
        self.store = Store(store.home, timeout=min(store.timeout, write_wait))
        self.job_id = job_id
        self.primary = primary
        self.parent_pid = parent_pid
        self._first_step: tuple[int, float] | None = None
        self._pending: list[_Write] = []
        self._dropped = 0
        self._backoff = 0.0
        self._next_try = 0.0

    def event(self, message: str, *, level: str = "info", metrics: Metrics | None = None) -> None:
        """Add an event (rank 0 only). Step metrics also update the progress and estimate."""
        if not self.primary:
            return
        job = self.job_id
        self._submit(
            _Write(lambda: self.store.add_event(job, message, level=level, metrics=metrics), False)
        )
        if metrics is not None and metrics.step is not None:
            self._progress(metrics)

    def checkpoint(self, step: int, path: Path, metrics: Mapping[str, float]) -> None:
        """Record a saved checkpoint (the directory must be complete on disk)."""
        if not self.primary:
            return
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

        def record() -> None:
            self.store.add_checkpoint(self.job_id, step, str(path), clean)
            self.store.forget_missing_checkpoints(self.job_id)

        self._submit(_Write(record, True, "checkpoint"))
        self._submit(
            _Write(
                lambda: self.store.add_event(
                    self.job_id,
                    f"Checkpoint saved at step {step}: {path}",
                    metrics=Metrics(step=step, extra=clean),
                ),
                True,
            )
        )

    def hyperparameters(self, resolved: Mapping[str, Any]) -> None:
        """Record the values "auto" resolved to; the job then reports them."""
        if not self.primary:
            return
        text = json.dumps(dict(resolved), default=str)
        self._submit(
            _Write(lambda: self.store.update_job(self.job_id, resolved_hyperparameters=text), True)
        )

    def should_stop(self) -> str | None:
        """None to go on, "pause" (save a checkpoint, then stop) or "cancel" (stop now)."""
        if self.parent_pid is not None and parent_gone(self.parent_pid):
            return "cancel"
        try:
            action = self.store.requested_action(self.job_id)
        except (StorageError, StoreBusyError) as exc:  # ask again at the next step
            print(f"anytune training: could not read the store: {exc}", file=sys.stderr)
            return None
        return action if action in STOP_ACTIONS else None

    def flush(self, patience: float = FLUSH_PATIENCE) -> bool:
        """Write every queued report, retrying up to ``patience`` seconds; True if all were."""
        deadline = time.monotonic() + patience
        while self._pending:
            self._next_try = 0.0
            self._drain()
            if not self._pending or time.monotonic() >= deadline:
                break
            time.sleep(min(max(self._backoff, 0.2), max(0.0, deadline - time.monotonic())))
        if self._pending:
            print(
                f"anytune training: {len(self._pending)} report(s) could not be written to "
                f"{self.store.db_path}",
                file=sys.stderr,
            )
        return not self._pending

    # -- queue ----------------------------------------------------------------------------
    def _progress(self, metrics: Metrics) -> None:
        fields: dict[str, Any] = {"progress": json.dumps(metrics.to_dict())}
        if metrics.step is not None and metrics.total_steps:
            estimate = self._estimate(metrics.step, metrics.total_steps)
            if estimate is not None:
                fields["estimated_finish"] = estimate
        # Only the latest progress matters: replace a queued one rather than queue another.
        self._pending = [w for w in self._pending if w.kind != "progress"]
        self._submit(
            _Write(lambda: self.store.update_job(self.job_id, **fields), False, "progress")
        )

    def _submit(self, write: _Write) -> None:
        self._pending.append(write)
        if len(self._pending) > MAX_PENDING:
            for index, queued in enumerate(self._pending):
                if not queued.essential:
                    del self._pending[index]
                    self._dropped += 1
                    break
        self._drain()

    def _drain(self) -> None:
        if time.monotonic() < self._next_try:
            return
        while self._pending:
            try:
                self._pending[0].run()
            except (StoreBusyError, StorageError) as exc:
                self._backoff = min(BACKOFF_MAX, max(0.5, self._backoff * 2))
                self._next_try = time.monotonic() + self._backoff
                print(
                    f"anytune training: report deferred ({len(self._pending)} queued), "
                    f"retrying in {self._backoff:g} s: {exc.message}",
                    file=sys.stderr,
                    flush=True,
                )
                return
            self._pending.pop(0)
            self._backoff = 0.0
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            self._submit(
                _Write(
                    lambda: self.store.add_event(
                        self.job_id,
                        f"{dropped} progress report(s) were dropped while the store was locked.",
                        level="warn",
                    ),
                    True,
                )
            )

    def _estimate(self, step: int, total: int) -> float | None:
        now = time.time()
        if self._first_step is None or step <= self._first_step[0]:
            self._first_step = (step, now)
            return None
        first_step, first_time = self._first_step
        per_step = (now - first_time) / (step - first_step)
        return now + per_step * max(0, total - step)
