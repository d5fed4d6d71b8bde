"""The conformance suite every provider runs against itself (needs pytest).

Subclass ``ProviderConformance`` in your provider's tests and supply two fixtures::

    from anytune.testing.conformance import ProviderConformance

    class TestMyProviderConformance(ProviderConformance):
        @pytest.fixture
        def provider(self, tmp_path): return MyProvider(...)

        @pytest.fixture
        def model(self): return "base-model-name"

Optional fixtures to override: ``job_options`` (options that keep a job short), ``wait_timeout``
(seconds), ``poll_interval`` (seconds), ``training_file`` (path to a valid JSONL),
``failing_spec`` (a function ``file_id -> JobSpec`` whose job will fail; ``None`` skips that
test) and ``generate_model`` (the model ``generate`` is tried with; default ``model``).

The suite checks behaviour every caller relies on, and the types of what comes back: uploads
round-trip (progress reported up to the full size); files are listed and deleted exactly when
``Capabilities.file_management`` is declared; a created job can be read back and is listed
first; the wait loop reaches ``succeeded`` with a fine-tuned model; events are incremental
(oldest first, no duplicates, ``after`` exclusive, an unknown ``after`` raises
``NotFoundError``); checkpoints belong to the job in step order; cancel ends a job
``cancelled`` and cancelling a finished job is a ``ConflictError``; pause/resume, render and
generate work exactly when declared; unknown ids raise ``NotFoundError``; mistakes in a spec
raise ``InvalidArgumentError`` naming the valid choices, before any job exists.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import pytest

from anytune.errors import (
    ConflictError,
    InvalidArgumentError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    UnsupportedOperationError,
)
from anytune.polling import wait
from anytune.provider import (
    Capabilities,
    HyperparameterLimits,
    OptionSpec,
    Provider,
    RenderedExample,
)
from anytune.testing.conformance_files import FileConformance
from anytune.testing.data import write_chat_jsonl
from anytune.types import (
    Checkpoint,
    Event,
    EventLevel,
    Hyperparameters,
    Job,
    JobSpec,
    JobStatus,
)

UNKNOWN_EVENT = "ftevent-does-not-exist-0000"
EXAMPLE = {
    "messages": [
        {"role": "system", "content": "Classify the sentiment."},
        {"role": "user", "content": "The food was great."},
        {"role": "assistant", "content": "positive"},
    ]
}


def _poll_until(
    provider: Provider, job_id: str, done: Callable[[Job], bool], timeout: float, interval: float
) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = provider.get_job(job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(interval)


def _check_job(job: object, provider: Provider) -> Job:
    assert isinstance(job, Job), f"expected a Job, got {type(job).__name__}"
    assert job.id and job.provider == provider.name
    assert isinstance(job.status, JobStatus), f"status {job.status!r} is not a known status"
    assert isinstance(job.created_at, int) and job.created_at > 0
    assert isinstance(job.hyperparameters, Hyperparameters)
    return job


class ProviderConformance(FileConformance):
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
    def generate_model(self, model: str) -> str:
        return model

    @pytest.fixture
    def uploaded(self, provider: Provider, training_file: Path) -> str:
        return provider.upload_file(training_file).id

    @pytest.fixture
    def spec(self, model: str, uploaded: str, job_options: dict[str, Any]) -> JobSpec:
        return JobSpec(model=model, training_file=uploaded, options=job_options, suffix="conf")

    # -- identity ------------------------------------------------------------------------
    def test_declares_name_capabilities_and_options(self, provider: Provider) -> None:
        assert isinstance(provider.name, str) and provider.name.isidentifier()
        assert isinstance(provider.capabilities, Capabilities)
        methods = provider.capabilities.methods
        assert isinstance(methods, frozenset) and "supervised" in methods
        assert all(isinstance(m, str) and m for m in methods)
        assert isinstance(provider.hyperparameter_limits, HyperparameterLimits)
        assert provider.default_poll_interval >= 0
        for name, option in provider.option_specs.items():
            assert isinstance(option, OptionSpec), name
            assert option.type in (bool, int, float, str, list), name
            if option.default is not None:  # the default is a valid value of the option
                assert option.coerce(name, option.default) == option.default, name

    # -- spec mistakes -------------------------------------------------------------------
    def test_unknown_option_names_the_valid_ones(self, provider: Provider, spec: JobSpec) -> None:
        bad = replace(spec, options={"no_such": 1})
        with pytest.raises(InvalidArgumentError) as info:
            provider.validate_spec(bad)
        assert "no_such" in str(info.value)
        for name in list(provider.option_specs)[:3]:
            assert name in str(info.value)

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"method": "no-such-method"}, "supported methods"),
            ({"hyperparameters": Hyperparameters(n_epochs=10_000)}, "n_epochs must be"),
            ({"hyperparameters": Hyperparameters(batch_size=0)}, "batch_size must be"),
            ({"hyperparameters": Hyperparameters(beta=0.1)}, "DPO"),
        ],
    )
    def test_spec_mistakes_are_typed_and_create_nothing(
        self, provider: Provider, spec: JobSpec, changes: dict[str, Any], message: str
    ) -> None:
        before = [j.id for j in provider.list_jobs(limit=100)]
        with pytest.raises(InvalidArgumentError, match=message):
            provider.create_job(replace(spec, **changes))
        assert [j.id for j in provider.list_jobs(limit=100)] == before

    # -- jobs ----------------------------------------------------------------------------
    def test_unknown_job_is_not_found(self, provider: Provider) -> None:
        unknown = "ftjob-does-not-exist-0000"
        for call in (
            provider.get_job,
            provider.list_events,
            provider.list_checkpoints,
            provider.cancel_job,
        ):
            with pytest.raises(NotFoundError):
                call(unknown)

    def test_create_then_read_back_and_list(self, provider: Provider, spec: JobSpec) -> None:
        job = _check_job(provider.create_job(spec), provider)
        try:
            assert (job.model, job.training_file) == (spec.model, spec.training_file)
            assert job.method == spec.method
            again = _check_job(provider.get_job(job.id), provider)
            assert (again.id, again.model, again.created_at) == (job.id, job.model, job.created_at)
            listed = provider.list_jobs(limit=50)
            assert all(isinstance(j, Job) for j in listed)
            assert listed and listed[0].id == job.id, "list_jobs is most recent first"
            assert len(provider.list_jobs(limit=1)) == 1
        finally:
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
        _check_job(final, provider)
        assert final.status == JobStatus.SUCCEEDED
        assert isinstance(final.fine_tuned_model, str) and final.fine_tuned_model
        assert final.finished_at is not None and final.finished_at >= final.created_at
        assert statuses[-1] == "succeeded"

        ids = [e.id for e in delivered]
        assert delivered, "a finished job has events"
        levels = set(get_args(EventLevel))
        for event in delivered:
            assert isinstance(event, Event) and isinstance(event.id, str) and event.id
            assert isinstance(event.created_at, int) and event.level in levels
        assert len(ids) == len(set(ids)), "events delivered twice"
        assert [e.created_at for e in delivered] == sorted(e.created_at for e in delivered)
        everything = provider.list_events(job.id)
        assert [e.id for e in everything] == ids, "wait delivered a different history"
        assert provider.list_events(job.id, after=ids[-1]) == []
        middle = len(ids) // 2
        assert [e.id for e in provider.list_events(job.id, after=ids[middle])] == ids[middle + 1 :]
        with pytest.raises(NotFoundError):
            provider.list_events(job.id, after=UNKNOWN_EVENT)

        checkpoints = provider.list_checkpoints(job.id)
        if provider.capabilities.checkpoints:
            assert checkpoints, "a succeeded job of a checkpointing provider has checkpoints"
        for checkpoint in checkpoints:
            assert isinstance(checkpoint, Checkpoint) and checkpoint.job_id == job.id
            assert checkpoint.fine_tuned_model_checkpoint
        assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)

        with pytest.raises(ConflictError):
            provider.cancel_job(job.id)

    def test_cancel_ends_cancelled(
        self, provider: Provider, spec: JobSpec, wait_timeout: float, poll_interval: float
    ) -> None:
        job = provider.create_job(spec)
        _check_job(provider.cancel_job(job.id), provider)
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
        job = provider.create_job(failing_spec(uploaded))
        with pytest.raises(JobFailedError) as info:
            wait(provider, job.id, interval=poll_interval, timeout=wait_timeout)
        error = info.value.job.error
        assert error is not None and error.code and error.message

    def test_pause_and_resume_as_declared(
        self, provider: Provider, spec: JobSpec, wait_timeout: float, poll_interval: float
    ) -> None:
        job = provider.create_job(spec)
        if not provider.capabilities.pause_resume:
            for call in (provider.pause_job, provider.resume_job):
                with pytest.raises(UnsupportedOperationError):
                    call(job.id)
            self._cleanup(provider, job.id)
            return
        with pytest.raises(ConflictError):
            provider.resume_job(job.id)  # not paused
        _check_job(provider.pause_job(job.id), provider)
        paused = _poll_until(
            provider,
            job.id,
            lambda j: j.status == JobStatus.PAUSED or j.is_terminal,
            wait_timeout,
            poll_interval,
        )
        assert paused.status == JobStatus.PAUSED, f"pause ended in {paused.status}"
        _check_job(provider.resume_job(job.id), provider)
        final = wait(provider, job.id, interval=poll_interval, timeout=wait_timeout)
        assert final.status == JobStatus.SUCCEEDED

    # -- render and generate -------------------------------------------------------------
    def test_render_as_declared(self, provider: Provider, model: str) -> None:
        if not provider.capabilities.render:
            with pytest.raises(UnsupportedOperationError):
                provider.render_example(EXAMPLE, model=model, line=1, options={})
            return
        rendered = provider.render_example(EXAMPLE, model=model, line=7, options={})
        assert isinstance(rendered, RenderedExample) and rendered.line == 7
        assert 0 < rendered.trained_tokens <= rendered.tokens
        text = "".join(s.text for s in rendered.segments)
        trained = "".join(s.text for s in rendered.segments if s.trained)
        assert "The food was great." in text
        assert "positive" in trained and "The food was great." not in trained

    def test_generate_as_declared(self, provider: Provider, generate_model: str) -> None:
        messages = EXAMPLE["messages"][:2]
        if not provider.capabilities.generate:
            with pytest.raises(UnsupportedOperationError):
                provider.generate(generate_model, messages)
            with pytest.raises(UnsupportedOperationError):
                list(provider.generate_stream(generate_model, messages))
            return
        reply = provider.generate(generate_model, messages, max_new_tokens=4)
        assert isinstance(reply, str)
        # Greedy: the streamed deltas join into the same reply.
        pieces = list(provider.generate_stream(generate_model, messages, max_new_tokens=4))
        assert all(isinstance(p, str) for p in pieces) and "".join(pieces) == reply

    @staticmethod
    def _cleanup(provider: Provider, job_id: str) -> None:
        # Best effort: the test already asserted what matters.
        with contextlib.suppress(Exception):
            if not provider.get_job(job_id).is_terminal:
                provider.cancel_job(job_id)
