"""The conformance suite every provider runs against itself (needs pytest).

Subclass ``ProviderConformance`` in your provider's tests and supply two fixtures::

    from anytune.testing.conformance import ProviderConformance

    class TestMyProviderConformance(ProviderConformance):
        @pytest.fixture
        def provider(self, tmp_path): return MyProvider(...)

        @pytest.fixture
        def model(self): return "base-model-name"

Optional fixtures to override: ``job_options`` (options that keep a job short), ``wait_timeout``
(seconds), ``poll_interval`` (seconds), ``training_file`` (path to a valid JSONL) and
``failing_spec`` (a function ``file_id -> JobSpec`` whose job will fail; ``None`` skips that
test).

The suite checks behaviour every caller relies on: uploads round-trip, a created job can be
read back and listed, the wait loop reaches ``succeeded`` with a fine-tuned model, events are
incremental (oldest first, no duplicates, ``after`` is exclusive), checkpoints belong to the
job in step order, cancel ends a job ``cancelled``, pause/resume work exactly when declared,
unknown ids raise ``NotFoundError`` and unknown options raise ``ConfigurationError``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from anytune.errors import (
    ConfigurationError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    UnsupportedOperationError,
)
from anytune.polling import wait
from anytune.provider import Capabilities, Provider
from anytune.testing.data import write_chat_jsonl
from anytune.types import Event, Job, JobSpec, JobStatus


def _poll_until(
    provider: Provider, job_id: str, done: Callable[[Job], bool], timeout: float, interval: float
) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = provider.get_job(job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(interval)


class ProviderConformance:
    """Behaviour every anytune provider must have. See the module docstring."""

    @pytest.fixture
    def job_options(self) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def wait_timeout(self) -> float:
        return 120.0

    @pytest.fixture
    def poll_interval(self) -> float:
        return 0.05

    @pytest.fixture
    def training_file(self, tmp_path: Path) -> Path:
        return write_chat_jsonl(tmp_path / "train.jsonl", 12)

    @pytest.fixture
    def failing_spec(self) -> Callable[[str], JobSpec] | None:
        return None

    @pytest.fixture
    def uploaded(self, provider: Provider, training_file: Path) -> str:
        return provider.upload_file(training_file).id

    @pytest.fixture
    def spec(self, model: str, uploaded: str, job_options: dict[str, Any]) -> JobSpec:
        return JobSpec(model=model, training_file=uploaded, options=job_options, suffix="conf")

    # -- identity ------------------------------------------------------------------------
    def test_declares_name_and_capabilities(self, provider: Provider) -> None:
        assert isinstance(provider.name, str) and provider.name
        assert isinstance(provider.capabilities, Capabilities)
        assert "supervised" in provider.capabilities.methods

    # -- files ---------------------------------------------------------------------------
    def test_upload_round_trips(self, provider: Provider, training_file: Path) -> None:
        seen: list[tuple[int, int]] = []
        uploaded = provider.upload_file(
            training_file, progress=lambda done, total: seen.append((done, total))
        )
        size = training_file.stat().st_size
        assert uploaded.id
        assert uploaded.provider == provider.name
        assert uploaded.bytes == size
        fetched = provider.get_file(uploaded.id)
        assert (fetched.id, fetched.bytes) == (uploaded.id, size)
        if seen:
            assert seen[-1] == (size, size)

    def test_unknown_file_is_not_found(self, provider: Provider) -> None:
        with pytest.raises(NotFoundError):
            provider.get_file("file-does-not-exist-0000")

    # -- jobs ----------------------------------------------------------------------------
    def test_unknown_job_is_not_found(self, provider: Provider) -> None:
        with pytest.raises(NotFoundError):
            provider.get_job("ftjob-does-not-exist-0000")

    def test_unknown_option_names_the_valid_ones(self, provider: Provider, spec: JobSpec) -> None:
        bad = JobSpec(model=spec.model, training_file=spec.training_file, options={"no_such": 1})
        with pytest.raises(ConfigurationError) as info:
            provider.validate_spec(bad)
        assert "no_such" in str(info.value)
        for name in list(provider.option_specs)[:3]:
            assert name in str(info.value)

    def test_create_then_read_back_and_list(self, provider: Provider, spec: JobSpec) -> None:
        job = provider.create_job(spec)
        assert job.id and job.provider == provider.name
        assert job.model == spec.model
        assert job.training_file == spec.training_file
        assert str(job.status) in {s.value for s in JobStatus}
        assert provider.get_job(job.id).id == job.id
        assert job.id in [j.id for j in provider.list_jobs(limit=50)]
        self._cleanup(provider, job.id)

    def test_wait_succeeds_with_incremental_events_and_checkpoints(
        self, provider: Provider, spec: JobSpec, wait_timeout: float, poll_interval: float
    ) -> None:
        job = provider.create_job(spec)
        delivered: list[Event] = []
        statuses: list[str] = []
        final = wait(
            provider,
            job.id,
            interval=poll_interval,
            timeout=wait_timeout,
            on_event=delivered.append,
            on_status=lambda j: statuses.append(str(j.status)),
        )
        assert final.status == JobStatus.SUCCEEDED
        assert final.fine_tuned_model
        assert final.finished_at is not None and final.finished_at >= final.created_at
        assert statuses[-1] == "succeeded"

        ids = [e.id for e in delivered]
        assert delivered, "a finished job has events"
        assert len(ids) == len(set(ids)), "events delivered twice"
        assert [e.created_at for e in delivered] == sorted(e.created_at for e in delivered)
        everything = provider.list_events(job.id)
        assert [e.id for e in everything] == ids, "wait delivered a different history"
        assert provider.list_events(job.id, after=ids[-1]) == []
        middle = len(ids) // 2
        assert [e.id for e in provider.list_events(job.id, after=ids[middle])] == ids[middle + 1 :]

        checkpoints = provider.list_checkpoints(job.id)
        if provider.capabilities.checkpoints:
            assert checkpoints, "a succeeded job of a checkpointing provider has checkpoints"
        assert all(c.job_id == job.id for c in checkpoints)
        assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)

    def test_cancel_ends_cancelled(
        self, provider: Provider, spec: JobSpec, wait_timeout: float, poll_interval: float
    ) -> None:
        job = provider.create_job(spec)
        provider.cancel_job(job.id)
        with pytest.raises(JobCancelledError) as info:
            wait(provider, job.id, interval=poll_interval, timeout=wait_timeout)
        assert info.value.job.status == JobStatus.CANCELLED

    def test_failed_job_reports_error(
        self,
        provider: Provider,
        uploaded: str,
        failing_spec: Callable[[str], JobSpec] | None,
        wait_timeout: float,
        poll_interval: float,
    ) -> None:
        if failing_spec is None:
            pytest.skip("provider supplies no failing_spec fixture")
        job = provider.create_job(provider.validate_spec(failing_spec(uploaded)))
        with pytest.raises(JobFailedError) as info:
            wait(provider, job.id, interval=poll_interval, timeout=wait_timeout)
        error = info.value.job.error
        assert error is not None and error.code and error.message

    def test_pause_and_resume_as_declared(
        self, provider: Provider, spec: JobSpec, wait_timeout: float, poll_interval: float
    ) -> None:
        job = provider.create_job(spec)
        if not provider.capabilities.pause_resume:
            with pytest.raises(UnsupportedOperationError):
                provider.pause_job(job.id)
            self._cleanup(provider, job.id)
            return
        provider.pause_job(job.id)
        paused = _poll_until(
            provider,
            job.id,
            lambda j: j.status == JobStatus.PAUSED or j.is_terminal,
            wait_timeout,
            poll_interval,
        )
        assert paused.status == JobStatus.PAUSED, f"pause ended in {paused.status}"
        provider.resume_job(job.id)
        final = wait(provider, job.id, interval=poll_interval, timeout=wait_timeout)
        assert final.status == JobStatus.SUCCEEDED

    @staticmethod
    def _cleanup(provider: Provider, job_id: str) -> None:
        # Best effort: the test already asserted what matters.
        with contextlib.suppress(Exception):
            if not provider.get_job(job_id).is_terminal:
                provider.cancel_job(job_id)
