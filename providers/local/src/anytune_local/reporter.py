"""The recipe's view of the job: a ``Reporter`` (see ``anytune_local.recipe``) that writes
events, checkpoints and resolved hyperparameters to the store and answers ``should_stop``.

Under torchrun every rank gets one; only rank 0 writes, every rank reads ``should_stop``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from anytune.types import Metrics
from anytune_local.processes import parent_gone
from anytune_local.store import Store

STOP_ACTIONS = ("pause", "cancel")


class StoreReporter:
    """Reports one job's training progress into the store.

    ``primary`` is False on torchrun ranks other than 0: they only ask ``should_stop``.
    ``parent_pid`` is the process that started this one; if it goes away the training is
    orphaned and ``should_stop`` answers ``"cancel"``.
    """

    def __init__(
        self, store: Store, job_id: str, *, primary: bool = True, parent_pid: int | None = None
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.primary = primary
        self.parent_pid = parent_pid
        self._first_step: tuple[int, float] | None = None

    def event(self, message: str, *, level: str = "info", metrics: Metrics | None = None) -> None:
        """Add an event (rank 0 only). Step metrics also update the estimated finish time."""
        if not self.primary:
            return
        self.store.add_event(self.job_id, message, level=level, metrics=metrics)
        if metrics is not None and metrics.step is not None and metrics.total_steps:
            self._update_estimate(metrics.step, metrics.total_steps)

    def checkpoint(self, step: int, path: Path, metrics: Mapping[str, float]) -> None:
        """Record a saved checkpoint (the directory must be complete on disk)."""
        if not self.primary:
            return
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        self.store.add_checkpoint(self.job_id, step, str(path), clean)
        self.store.add_event(
            self.job_id,
            f"Checkpoint saved at step {step}: {path}",
            metrics=Metrics(step=step, extra=clean),
        )

    def hyperparameters(self, resolved: Mapping[str, Any]) -> None:
        """Record the values "auto" resolved to; the job then reports them."""
        if not self.primary:
            return
        self.store.update_job(
            self.job_id, resolved_hyperparameters=json.dumps(dict(resolved), default=str)
        )

    def should_stop(self) -> str | None:
        """None to go on, "pause" (save a checkpoint, then stop) or "cancel" (stop now)."""
        if self.parent_pid is not None and parent_gone(self.parent_pid):
            return "cancel"
        action = self.store.requested_action(self.job_id)
        return action if action in STOP_ACTIONS else None

    def _update_estimate(self, step: int, total: int) -> None:
        now = time.time()
        if self._first_step is None or step <= self._first_step[0]:
            self._first_step = (step, now)
            return
        first_step, first_time = self._first_step
        per_step = (now - first_time) / (step - first_step)
        self.store.update_job(self.job_id, estimated_finish=now + per_step * max(0, total - step))
