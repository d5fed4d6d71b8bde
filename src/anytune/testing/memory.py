"""``InMemoryProvider``: a complete provider held in memory, for applications' own tests.

Jobs advance one step each time they are read (``get_job``, ``list_jobs``) — deterministic,
no threads, no sleeping: validating_files → queued → running (``steps`` metric events, a
checkpoint every ``checkpoint_every`` steps) → succeeded. Options let a test script a
failure. All instances in a process share one store unless given their own, so separate
``Client("memory")`` objects (and in-process CLI runs) see the same jobs.

>>> from anytune import Client
>>> client = Client("memory", index=False)
>>> f = client.files.create(write_chat_jsonl(tmp_path / "t.jsonl"))   # doctest: +SKIP
>>> job = client.jobs.create(model="m", training_file=f.id)            # doctest: +SKIP
>>> client.jobs.wait(job.id, interval=0).status                         # doctest: +SKIP
<JobStatus.SUCCEEDED: 'succeeded'>
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from anytune.errors import ConflictError, NotFoundError
from anytune.provider import (
    Capabilities,
    DatasetRules,
    OptionSpec,
    ProgressCallback,
    Provider,
    ValidatedSpec,
)
from anytune.types import (
    Checkpoint,
    Event,
    FileObject,
    Job,
    JobError,
    JobStatus,
    Metrics,
    is_terminal,
)


@dataclass
class _JobState:
    job: Job
    steps: int
    fail_code: str | None
    checkpoint_every: int = 1
    step: int = 0
    pause_requested: bool = False
    events: list[Event] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


@dataclass
class MemoryStore:
    files: dict[str, FileObject] = field(default_factory=dict)
    jobs: dict[str, _JobState] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.RLock = field(default_factory=threading.RLock)


_SHARED = MemoryStore()


class InMemoryProvider(Provider):
    """A provider that keeps everything in memory (see the module docstring)."""

    name: ClassVar[str] = "memory"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pause_resume=True, methods=frozenset({"supervised", "dpo"}), file_management=True
    )
    default_poll_interval: ClassVar[float] = 0.0
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        "steps": OptionSpec(int, 3, "training steps the fake job runs"),
        "fail": OptionSpec(str, None, "make the job fail with this error code"),
        "checkpoint_every": OptionSpec(int, 1, "steps between checkpoints"),
    }

    def __init__(self, *, store: MemoryStore | None = None):
        self._store = store or _SHARED

    @staticmethod
    def reset() -> None:
        """Forget every file and job in the shared store."""
        global _SHARED
        _SHARED = MemoryStore()
        # Instances created before the reset keep the old store; tests create new ones.

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._store.counter):06d}"

    # -- files ---------------------------------------------------------------------------
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with self._store.lock:
            file = FileObject(
                id=self._id("file"),
                provider=self.name,
                filename=Path(path).name,
                bytes=len(data),
                created_at=int(time.time()),
                purpose=purpose,
                status="processed",
                sha256=digest,
            )
            self._store.files[file.id] = file
        if progress is not None:
            progress(len(data), len(data))
        return file

    def get_file(self, file_id: str) -> FileObject:
        with self._store.lock:
            if file_id not in self._store.files:
                raise NotFoundError(f"no file {file_id!r}", provider=self.name)
            return self._store.files[file_id]

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        with self._store.lock:
            files = [f for f in self._store.files.values() if purpose in (None, f.purpose)]
        # Ids grow with time (one counter), so sorting them is newest first.
        return sorted(files, key=lambda f: f.id, reverse=True)[: max(0, limit)]

    def delete_file(self, file_id: str) -> None:
        with self._store.lock:
            self.get_file(file_id)
            del self._store.files[file_id]

    # -- jobs ----------------------------------------------------------------------------
    def check_files(self, spec: ValidatedSpec) -> None:
        for file_id in filter(None, (spec.training_file, spec.validation_file)):
            self.get_file(file_id)

    def submit_job(self, spec: ValidatedSpec) -> Job:
        with self._store.lock:
            job = Job(
                id=self._id("ftjob"),
                provider=self.name,
                model=spec.model,
                status=JobStatus.VALIDATING_FILES,
                created_at=int(time.time()),
                training_file=spec.training_file,
                validation_file=spec.validation_file,
                method=spec.method,
                hyperparameters=spec.hyperparameters,
                metadata=dict(spec.metadata),
                seed=spec.seed,
                suffix=spec.suffix,
            )
            state = _JobState(
                job=job,
                steps=spec.options.get_int("steps") or 0,
                fail_code=spec.options.get_str("fail"),
                checkpoint_every=max(1, spec.options.get_int("checkpoint_every") or 1),
            )
            self._store.jobs[job.id] = state
            self._event(state, "Validating training file")
            return job

    def _state(self, job_id: str) -> _JobState:
        if job_id not in self._store.jobs:
            raise NotFoundError(f"no job {job_id!r}", provider=self.name)
        return self._store.jobs[job_id]

    def _event(
        self, state: _JobState, message: str, *, level: str = "info", metrics: Metrics | None = None
    ) -> None:
        state.events.append(
            Event(
                id=f"ftevent-{next(self._store.counter):06d}",
                created_at=int(time.time()),
                level=level,
                message=message,
                metrics=metrics,
            )
        )

    def _set(self, state: _JobState, **changes: Any) -> None:
        state.job = replace(state.job, **changes)

    def _advance(self, state: _JobState) -> None:
        status = state.job.status
        if is_terminal(status) or status == JobStatus.PAUSED:
            return
        if state.pause_requested:
            state.pause_requested = False
            self._set(state, status=JobStatus.PAUSED)
            self._event(state, "Job paused")
        elif status == JobStatus.VALIDATING_FILES:
            self._set(state, status=JobStatus.QUEUED)
            self._event(state, "Files validated, job queued")
        elif status == JobStatus.QUEUED:
            self._set(state, status=JobStatus.RUNNING)
            self._event(state, "Training started")
        elif state.fail_code:
            self._set(
                state,
                status=JobStatus.FAILED,
                finished_at=int(time.time()),
                error=JobError(state.fail_code, f"scripted failure: {state.fail_code}"),
            )
            self._event(state, f"Job failed: {state.fail_code}", level="error")
        elif state.step < state.steps:
            state.step += 1
            loss = round(2.0 / state.step, 4)
            self._event(
                state,
                f"Step {state.step}/{state.steps}: training loss={loss}",
                metrics=Metrics(step=state.step, total_steps=state.steps, train_loss=loss),
            )
            if state.step % state.checkpoint_every == 0:
                state.checkpoints.append(
                    Checkpoint(
                        id=f"ftckpt-{next(self._store.counter):06d}",
                        job_id=state.job.id,
                        step=state.step,
                        created_at=int(time.time()),
                        fine_tuned_model_checkpoint=f"{state.job.model}:ckpt-step-{state.step}",
                        metrics={"train_loss": loss},
                    )
                )
        else:
            self._set(
                state,
                status=JobStatus.SUCCEEDED,
                finished_at=int(time.time()),
                fine_tuned_model=f"ft:{state.job.model}:{state.job.suffix or 'memory'}:{state.job.id}",
                trained_tokens=100 * state.steps,
            )
            self._event(state, "The job has successfully completed")

    def get_job(self, job_id: str) -> Job:
        with self._store.lock:
            state = self._state(job_id)
            self._advance(state)
            return state.job

    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        with self._store.lock:
            jobs = [s.job for s in self._store.jobs.values()]
        return sorted(jobs, key=lambda j: j.id, reverse=True)[:limit]

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        with self._store.lock:
            events = list(self._state(job_id).events)
        if after is None:
            return events
        ids = [e.id for e in events]
        if after not in ids:
            raise NotFoundError(
                f"job {job_id} has no event {after!r}",
                hint="pass an event id returned by list_events for this job, or none",
                provider=self.name,
            )
        return events[ids.index(after) + 1 :]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        with self._store.lock:
            return list(self._state(job_id).checkpoints)

    def cancel_job(self, job_id: str) -> Job:
        with self._store.lock:
            state = self._state(job_id)
            if is_terminal(state.job.status):
                raise ConflictError(
                    f"job {job_id} already {state.job.status}; only unfinished jobs can be cancelled",
                    provider=self.name,
                )
            self._set(state, status=JobStatus.CANCELLED, finished_at=int(time.time()))
            self._event(state, "Job cancelled")
            return state.job

    def pause_job(self, job_id: str) -> Job:
        with self._store.lock:
            state = self._state(job_id)
            if is_terminal(state.job.status):
                raise ConflictError(f"job {job_id} already {state.job.status}", provider=self.name)
            state.pause_requested = True
            return state.job

    def resume_job(self, job_id: str) -> Job:
        with self._store.lock:
            state = self._state(job_id)
            if state.job.status != JobStatus.PAUSED:
                raise ConflictError(
                    f"job {job_id} is {state.job.status}, not paused", provider=self.name
                )
            self._set(state, status=JobStatus.RUNNING)
            self._event(state, "Job resumed")
            return state.job

    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        return DatasetRules(min_examples=1, methods=self.capabilities.methods)
