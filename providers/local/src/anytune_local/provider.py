"""The ``local`` provider: LoRA/QLoRA fine-tuning on this machine, run as real background jobs.

Jobs behave like hosted ones: ``create_job`` returns at once (``validating_files``); a
detached worker process validates the files, waits its turn (one job trains at a time),
trains with transformers + peft + trl, and ends ``succeeded`` (``fine_tuned_model`` is the
saved PEFT adapter directory), ``failed``, ``cancelled`` or ``paused``. State lives in one
SQLite file under ``home`` (default ``$ANYTUNE_HOME/local``), shared by every process.

>>> from anytune import Client                                     # doctest: +SKIP
>>> client = Client("local")                                        # doctest: +SKIP
>>> job = client.jobs.create(model="/models/tiny", training_file=client.files.create("t.jsonl").id)

This module imports no ML library: status, events and listing stay fast.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from anytune import config
from anytune.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from anytune.provider import (
    Capabilities,
    DatasetRules,
    OptionSpec,
    ProgressCallback,
    Provider,
    RenderedExample,
    ValidatedSpec,
    validate_options,
)
from anytune.types import Checkpoint, Event, FileObject, Job
from anytune_local import checkpoints, files, processes, scheduler
from anytune_local.convert import to_job
from anytune_local.files import file_object, store_file
from anytune_local.models import LazyTokenCounter, check_model, has_tokenizer, resolve_model
from anytune_local.modeluse import ModelUse
from anytune_local.options import OPTION_SPECS, check_ranges
from anytune_local.storage import check_id
from anytune_local.store import ACTIVE_STATUSES, FileRecord, JobRecord, Store, event_number

CANCEL_GRACE = 15.0
"""Seconds ``cancel_job`` waits for the worker to stop the training before killing it."""


class LocalProvider(ModelUse, Provider):
    """Fine-tune on this machine. ``home``: where jobs, files and adapters are kept."""

    name: ClassVar[str] = "local"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pause_resume=True,
        checkpoints=True,
        methods=frozenset({"supervised", "dpo"}),
        render=True,
        generate=True,
        score=True,
        file_management=True,
        export_targets=frozenset({"peft", "merged", "vllm", "ollama", "gguf"}),
    )
    option_specs: ClassVar[Mapping[str, OptionSpec]] = OPTION_SPECS
    connection_options: ClassVar[tuple[str, ...]] = ("home",)
    default_poll_interval: ClassVar[float] = 1.0

    def __init__(self, home: str | Path | None = None) -> None:
        # Absolute: workers run in their job directory, not in this process's one.
        chosen = Path(home).expanduser() if home else config.home() / "local"
        self.home = chosen.absolute()
        self.store = Store(self.home)

    # -- files ---------------------------------------------------------------------------
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        """Copy ``path`` into the content-addressed store; the same bytes give the same id."""
        source = Path(path)
        if not source.is_file():
            raise NotFoundError(f"{source}: no such file", provider=self.name)
        return file_object(store_file(self.store, source, purpose=purpose, progress=progress))

    def get_file(self, file_id: str) -> FileObject:
        return file_object(self._file(file_id))

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        """Uploaded files, newest first."""
        return files.list_files(self.store, purpose=purpose, limit=limit)

    def delete_file(self, file_id: str) -> None:
        """Delete an uploaded file; ``ConflictError`` while an unfinished job uses it."""
        files.delete_file(self.store, file_id)

    # -- jobs ----------------------------------------------------------------------------
    def check_spec(self, spec: ValidatedSpec) -> None:
        """The model path, option ranges, bitsandbytes for quantize, how batch_size splits."""
        check_model(spec.model)
        check_ranges(spec.options)
        if spec.options.get("quantize") in ("4bit", "8bit"):
            import importlib.util

            if importlib.util.find_spec("bitsandbytes") is None:
                raise ConfigurationError(
                    f"quantize={spec.options['quantize']} needs bitsandbytes, which is not installed",
                    hint="install it with: pip install 'anytune-local[qlora]'",
                    provider=self.name,
                )
        self._check_batch_split(spec)

    def check_files(self, spec: ValidatedSpec) -> None:
        """The files are uploaded and readable."""
        for file_id in (spec.training_file, spec.validation_file):
            if file_id:
                files.check_readable(self._file(file_id))

    def _check_batch_split(self, spec: ValidatedSpec) -> None:
        """An explicit batch_size must split evenly over processes and accumulation steps."""
        batch = spec.hyperparameters.batch_size
        processes_ = int(spec.options.get("nproc_per_node") or 1)
        accumulation = int(spec.options.get("gradient_accumulation_steps") or 1)
        unit = max(1, processes_) * max(1, accumulation)
        if isinstance(batch, int) and batch % unit:
            raise ConfigurationError(
                f"batch_size={batch} does not split evenly over nproc_per_node={processes_} x "
                f"gradient_accumulation_steps={accumulation}",
                hint=f"use a batch_size that is a multiple of {unit}, or batch_size=auto",
                provider=self.name,
            )

    def submit_job(self, spec: ValidatedSpec) -> Job:
        """Record the job and start its worker; returns at once in ``validating_files``."""
        stored = spec.to_dict()
        stored["base_model"] = resolve_model(spec.model)
        job_id = f"ftjob-{secrets.token_hex(12)}"
        self.store.insert_job(
            job_id, model=spec.model, spec=json.dumps(stored), status="validating_files"
        )
        self.store.add_event(job_id, f"Created fine-tuning job {job_id} on {spec.model}.")
        if spec.integrations:
            kinds = ", ".join(str(i.get("type", "?")) for i in spec.integrations)
            self.store.add_event(
                job_id,
                f"Integrations are not supported by the local provider and are ignored: {kinds}.",
                level="warn",
            )
        self._start_worker(job_id, attempt=0, resume=False)
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> Job:
        return to_job(scheduler.reconcile(self.store, self._record(job_id)))

    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        return [
            to_job(scheduler.reconcile(self.store, r)) for r in self.store.list_jobs(limit=limit)
        ]

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        """Events after the event ``after``; ``NotFoundError`` if it is not one of this job's
        (an unknown cursor is never taken as "from the start")."""
        self._record(job_id)
        if after is None:
            return self.store.list_events(job_id)
        try:
            number = event_number(after)
        except ValueError:
            number = None
        if number is None or not self.store.has_event(job_id, number):
            raise NotFoundError(
                f"{after!r} is not an event of job {job_id} (local event ids look like ftevent-12)",
                hint=f"list its events with `anytune events {job_id}`",
                provider=self.name,
            )
        return self.store.list_events(job_id, after=number)

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        self._record(job_id)
        return self.store.list_checkpoints(job_id)

    def delete_job_artifacts(self, job_id: str) -> int:
        """Remove a finished job's checkpoints (its adapter stays); returns the bytes freed.

        ``ConflictError`` while the job is waiting, training or paused.
        """
        from anytune_local.cleanup import delete_job_checkpoints

        self._record(job_id)
        return delete_job_checkpoints(self.store, job_id).freed_bytes

    def cancel_job(self, job_id: str) -> Job:
        """Stop the job now (no checkpoint is saved); returns it ``cancelled``."""
        record = scheduler.reconcile(self.store, self._record(job_id))
        if record.status == "cancelled":
            return to_job(record)
        if record.status in ("succeeded", "failed"):
            raise ConflictError(
                f"job {job_id} already {record.status}; only running, queued or paused jobs can be cancelled",
                provider=self.name,
            )
        self.store.update_job(job_id, requested_action="cancel")
        waiting = ("validating_files", "queued", "paused")
        if self.store.transition(
            job_id, waiting, "cancelled", finished_at=time.time(), event="Job cancelled."
        ):
            scheduler.signal_worker(record, signal.SIGTERM)
            return self.get_job(job_id)
        record = self._record(job_id)
        if record.status == "running":
            scheduler.signal_worker(record, signal.SIGTERM)
            stopped = processes.wait_for(
                lambda: self._record(job_id).status not in ACTIVE_STATUSES, CANCEL_GRACE
            )
            if not stopped:
                scheduler.kill_worker(self.store, self._record(job_id))
        return self.get_job(job_id)

    def pause_job(self, job_id: str) -> Job:
        """Ask the job to save a checkpoint and stop; it becomes ``paused`` after the current step."""
        record = scheduler.reconcile(self.store, self._record(job_id))
        if record.status == "paused":
            return to_job(record)
        if record.status not in ACTIVE_STATUSES:
            raise ConflictError(
                f"job {job_id} is {record.status}; only queued or running jobs can be paused",
                provider=self.name,
            )
        self.store.update_job(job_id, requested_action="pause")
        if not self.store.transition(
            job_id,
            ("validating_files", "queued"),
            "paused",
            requested_action=None,
            event=f"Job paused before training started; `anytune resume {job_id}` continues.",
        ):
            self.store.add_event(
                job_id, "Pause requested: the job saves a checkpoint and pauses after this step."
            )
        return self.get_job(job_id)

    def resume_job(self, job_id: str) -> Job:
        """Continue a paused or failed job from its newest checkpoint that loads.

        A failed job needs a usable checkpoint, unless its worker died (then it starts
        over). Damaged checkpoints are skipped; the "Job resumed ..." event names the one used
        and the ones skipped.
        """
        record = scheduler.reconcile(self.store, self._record(job_id))
        if record.status not in ("paused", "failed"):
            raise ConflictError(
                f"job {job_id} is {record.status}; only paused and failed jobs can be resumed",
                provider=self.name,
            )
        choice = checkpoints.newest_usable(self.store, job_id)
        if record.status == "failed" and choice.path is None and record.error_code != "worker_died":
            skipped = f" (damaged: {'; '.join(choice.skipped)})" if choice.skipped else ""
            raise ConflictError(
                f"job {job_id} failed ({record.error_code}: {record.error_message}) with no "
                f"usable checkpoint{skipped}, so there is nothing to resume from",
                hint="fix the cause and create a new job",
                provider=self.name,
            )
        trained_before = record.started_at is not None
        where = choice.describe()
        checkpoint = (choice.step, choice.path) if choice.path is not None else None
        if not self.store.transition(
            job_id,
            ("paused", "failed"),
            "queued" if trained_before else "validating_files",
            if_attempt=record.attempt,
            requested_action=None,
            error_code=None,
            error_message=None,
            finished_at=None,
            worker_pid=None,
            worker_started=None,
            training_pid=None,
            heartbeat=time.time(),
            attempt=record.attempt + 1,
            resume_from=str(checkpoint[1]) if checkpoint else None,
            event=f"Job resumed {where}.",
        ):
            raise ConflictError(
                f"job {job_id} changed state meanwhile; try again", provider=self.name
            )
        self._start_worker(job_id, attempt=record.attempt + 1, resume=trained_before)
        return self.get_job(job_id)

    # -- data ----------------------------------------------------------------------------
    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        if model:
            check_model(model)  # `validate -m /nonexistent` must not say OK
        given = dict(options or {})  # max_length, chat_template_kwargs: as the job will use them
        max_length = int(given.get("max_length") or OPTION_SPECS["max_length"].default)
        counter = LazyTokenCounter(model, given) if model and has_tokenizer(model) else None
        return DatasetRules(
            min_examples=1,
            max_tokens_per_example=max_length,
            token_counter=counter,
            price=None,
            methods=self.capabilities.methods,
            auto_epochs=_auto_epochs,
            job_counts_exactly=True,  # recipe.sft: the data is tokenized before the model loads
            notes=(
                "local: trains on this machine (no price); examples longer than max_length "
                f"({max_length}) are truncated (option max_length).",
                "local: a chat template that renders earlier turns differently from the newest "
                "one (Qwen3, gpt-oss, Mistral Nemo, ...) trains each such turn as its own "
                "sequence in its inference-time context; the token counts include them all.",
            ),
        )

    def render_example(
        self, example: Mapping[str, Any], *, model: str, line: int, options: Mapping[str, Any]
    ) -> RenderedExample:
        from anytune_local import recipe

        coerced = validate_options(self.name, self.option_specs, options)
        check_model(model)
        with _recipe_errors(self.name):
            rendered: RenderedExample = recipe.render_example(
                dict(example), model=resolve_model(model), options=coerced, line=line
            )
        return rendered

    def generate(
        self,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        max_new_tokens: int = 128,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Reply with a fine-tuned adapter (its path, or the job id) or a plain model."""
        from anytune_local import recipe

        path = self.model_path(model)  # a job id: its adapter (one rule, in ModelUse)
        with _recipe_errors(self.name):
            reply: str = recipe.generate(
                path, [dict(m) for m in messages], max_new_tokens=max_new_tokens
            )
        return reply

    # -- helpers -------------------------------------------------------------------------
    def _record(self, job_id: str) -> JobRecord:
        record = self.store.get_job(check_id("job", job_id))
        if record is None:
            raise NotFoundError(
                f"no local job {job_id} in {self.home}",
                hint="list jobs with `anytune list --provider local`",
                provider=self.name,
            )
        return record

    def _file(self, file_id: str) -> FileRecord:
        return files.find_file(self.store, file_id)

    def _start_worker(self, job_id: str, *, attempt: int, resume: bool) -> None:
        try:
            scheduler.start_worker(self.store, job_id, attempt=attempt, resume=resume)
        except OSError as exc:
            message = f"could not start the worker process: {exc}"
            self.store.transition(
                job_id,
                ACTIVE_STATUSES,
                "failed",
                error_code="worker_died",
                error_message=message,
                finished_at=time.time(),
                event=f"Job failed: {message}",
                level="error",
            )
            raise ConfigurationError(message, provider=self.name) from exc


def _auto_epochs(n_examples: int) -> int:
    from anytune_local.options import auto_epochs

    return auto_epochs(n_examples)


@contextlib.contextmanager
def _recipe_errors(provider: str) -> Iterator[None]:
    """Translate the recipe's ``TrainingFailure`` into the anytune error tree."""
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ != "TrainingFailure":
            raise
        code = str(getattr(exc, "code", ""))
        message = str(getattr(exc, "message", "") or exc)
        if code == "invalid_model":
            raise ConfigurationError(message, provider=provider) from exc
        raise InvalidRequestError(
            f"{code}: {message}" if code else message, provider=provider
        ) from exc
