"""Between anytune's types and Together's: a ValidatedSpec becomes ``fine_tuning.create``
arguments; SDK objects become Job / Event / Checkpoint / FileObject. Nothing from the SDK
leaves this module except as anytune types; unknown statuses pass through as data."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from anytune.spec import ValidatedSpec
from anytune.types import (
    AUTO,
    Checkpoint,
    Event,
    FileObject,
    Hyperparameters,
    Job,
    JobError,
    JobStatus,
    Metrics,
)
from anytune_together.catalog import BASE_LEARNING_RATE

# Together's job statuses -> anytune's lifecycle. "cancel_requested" is not over yet: the job
# still stops (and is billed up to there), so a wait keeps going until "cancelled".
STATUSES: dict[str, JobStatus] = {
    "pending": JobStatus.VALIDATING_FILES,
    "queued": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "compressing": JobStatus.RUNNING,
    "uploading": JobStatus.RUNNING,
    "cancel_requested": JobStatus.RUNNING,
    "cancelled": JobStatus.CANCELLED,
    "error": JobStatus.FAILED,
    "completed": JobStatus.SUCCEEDED,
}
LEVELS = {"warning": "warn", "legacy_iwarning": "warn", "error": "error", "legacy_ierror": "error"}


def _field(obj: Any, name: str) -> Any:
    """A field of an SDK model, including ones the SDK does not declare."""
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def timestamp(value: Any) -> int | None:
    """Unix seconds from Together's ISO 8601 strings (or datetimes, or numbers)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp())
    return None


def sort_key(value: Any) -> float:
    """Sub-second order of Together's timestamps (jobs created in the same second)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return 0.0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return float(value.timestamp())
    return 0.0


# -- the create request --------------------------------------------------------------------
def create_arguments(spec: ValidatedSpec) -> dict[str, Any]:
    """Keyword arguments for ``client.fine_tuning.create`` (checked by ``check_spec``)."""
    hp = spec.hyperparameters
    opts = spec.options
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "training_file": spec.training_file,
        "training_method": "dpo" if spec.method == "dpo" else "sft",
        "n_checkpoints": opts.get_int("n_checkpoints"),
        "n_evals": opts.get_int("n_evals") if spec.validation_file else 0,
        "lora": opts.get_bool("lora"),
        "packing": opts.get_bool("packing"),
        "warmup_ratio": opts.get_float("warmup_ratio"),
        "weight_decay": opts.get_float("weight_decay"),
        "max_grad_norm": opts.get_float("max_grad_norm"),
        "lr_scheduler_type": opts.get_str("lr_scheduler"),
    }
    if hp.n_epochs != AUTO:
        kwargs["n_epochs"] = int(hp.n_epochs)
    if hp.batch_size != AUTO:
        kwargs["batch_size"] = int(hp.batch_size)
    multiplier = 1.0 if hp.learning_rate_multiplier == AUTO else float(hp.learning_rate_multiplier)
    kwargs["learning_rate"] = BASE_LEARNING_RATE * multiplier
    if spec.method == "dpo" and hp.beta not in (None, AUTO):
        kwargs["dpo_beta"] = float(hp.beta)
    if spec.method != "dpo":
        train_on_inputs = opts.get_str("train_on_inputs")
        kwargs["train_on_inputs"] = (
            train_on_inputs if train_on_inputs == "auto" else train_on_inputs == "true"
        )
    if spec.validation_file:
        kwargs["validation_file"] = spec.validation_file
    if spec.suffix:
        kwargs["suffix"] = spec.suffix
    if spec.seed is not None:
        kwargs["random_seed"] = spec.seed
    if opts.get_bool("lora"):
        for option, name in (("lora_r", "lora_r"), ("lora_alpha", "lora_alpha")):
            value = opts.get_int(option)
            if value is not None:
                kwargs[name] = value
        kwargs["lora_dropout"] = opts.get_float("lora_dropout")
        kwargs["lora_trainable_modules"] = ",".join(opts.get_list("target_modules"))
    max_length = opts.get_int("max_length")
    if max_length:
        kwargs["max_seq_length"] = max_length
    if opts.get_str("from_checkpoint"):
        kwargs["from_checkpoint"] = opts.get_str("from_checkpoint")
        del kwargs["model"]  # Together takes one or the other
    if opts.get_str("wandb_project"):
        kwargs["wandb_project_name"] = opts.get_str("wandb_project")
        for option in ("wandb_name", "wandb_entity"):
            if opts.get_str(option):
                kwargs[option] = opts.get_str(option)
        # The W&B key is a secret: read from the environment at submit time, never stored.
        if os.environ.get("WANDB_API_KEY"):
            kwargs["wandb_api_key"] = os.environ["WANDB_API_KEY"]
    return {k: v for k, v in kwargs.items() if v is not None}


# -- SDK objects -> anytune ----------------------------------------------------------------
def _hyperparameters(job: Any) -> Hyperparameters:
    values: dict[str, Any] = {}
    n_epochs = _field(job, "n_epochs")
    if isinstance(n_epochs, int) and n_epochs >= 1:
        values["n_epochs"] = n_epochs
    batch = _field(job, "batch_size")
    if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1:
        values["batch_size"] = batch
    lr = _field(job, "learning_rate")
    if isinstance(lr, (int, float)) and lr > 0:
        values["learning_rate_multiplier"] = round(lr / BASE_LEARNING_RATE, 6)
    method = _field(job, "training_method")
    beta = _field(method, "dpo_beta") if method is not None else None
    if isinstance(beta, (int, float)) and beta > 0:
        values["beta"] = float(beta)
    try:
        return Hyperparameters.from_dict(values)
    except ValueError:
        return Hyperparameters()


def _method(job: Any) -> str:
    method = _field(job, "training_method")
    name = _field(method, "method") if method is not None else None
    return "dpo" if name == "dpo" else "supervised"


def _error(job: Any, status: str) -> JobError | None:
    """Together jobs carry no error object: the reason is the last ``job_error`` event."""
    if status != "error":
        return None
    for event in reversed(list(_field(job, "events") or [])):
        if _field(event, "type") == "job_error" or _field(event, "level") == "error":
            return JobError(code="job_error", message=str(_field(event, "message") or ""))
    return JobError(
        code="job_error",
        message="Together reported the job as failed without a reason (see anytune events JOB)",
    )


def to_job(job: Any, provider: str) -> Job:
    raw_status = str(_field(job, "status") or "")
    status: JobStatus | str = STATUSES.get(raw_status, raw_status)
    created = timestamp(_field(job, "created_at")) or 0
    finished = None
    if raw_status in ("completed", "cancelled", "error"):
        finished = timestamp(_field(job, "updated_at")) or created
    progress = _field(job, "progress")
    estimated = None
    if progress is not None and _field(progress, "estimate_available"):
        seconds = _field(progress, "seconds_remaining")
        if isinstance(seconds, int) and raw_status == "running":
            estimated = int(datetime.now(timezone.utc).timestamp()) + seconds
    validation = _field(job, "validation_file") or None
    return Job(
        id=str(job.id),
        provider=provider,
        model=str(_field(job, "model") or ""),
        status=status,
        created_at=created,
        training_file=str(_field(job, "training_file") or ""),
        validation_file=validation,
        finished_at=finished,
        fine_tuned_model=(_field(job, "model_output_name") or _field(job, "x_model_output_name"))
        if raw_status == "completed"
        else None,
        method=_method(job),
        hyperparameters=_hyperparameters(job),
        trained_tokens=_field(job, "token_count"),
        error=_error(job, raw_status),
        estimated_finish=estimated,
        seed=_field(job, "random_seed"),
        suffix=_field(job, "suffix"),
    )


def to_events(items: Iterable[Any]) -> list[Event]:
    """Together's events, oldest first, with ids anytune makes: Together has no event id or
    cursor (its ``hash`` field, when not empty, is used).

    An id is that hash (or a digest of the event's own fields) plus how many identical events
    came before it, so it is the same on every poll as long as Together keeps the history (it
    does: the list only grows)."""
    seen: dict[str, int] = {}
    events: list[Event] = []
    ordered = sorted(
        enumerate(items), key=lambda pair: (sort_key(_field(pair[1], "created_at")), pair[0])
    )
    for _, item in ordered:
        kind = str(_field(item, "type") or "")
        message = str(_field(item, "message") or "")
        created_raw = str(_field(item, "created_at") or "")
        step = _field(item, "step")
        # Together's own "hash" when it sends one, else a digest of the event's fields.
        digest = (
            str(_field(item, "hash") or "")
            or hashlib.sha256(f"{created_raw}|{kind}|{step}|{message}".encode()).hexdigest()[:16]
        )
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        metrics = None
        total = _field(item, "total_steps")
        # Every event has a step (0 outside training); only training steps are progress.
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            metrics = Metrics(step=step, total_steps=total if isinstance(total, int) else None)
        level = LEVELS.get(str(_field(item, "level") or ""), "info")
        if kind == "job_error":
            level = "error"
        events.append(
            Event(
                id=f"ftevent-{digest}-{n}",
                created_at=timestamp(created_raw) or 0,
                level=level,
                message=message or kind,
                metrics=metrics,
            )
        )
    return events


def to_checkpoint(item: Any, job_id: str) -> Checkpoint:
    step = int(_field(item, "step") or 0)
    name = f"{job_id}:{step}"
    metrics: dict[str, float] = {}
    for key, value in (getattr(item, "model_extra", None) or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            metrics[str(key)] = float(value)
    return Checkpoint(
        id=name,
        job_id=job_id,
        step=step,
        created_at=timestamp(_field(item, "created_at")) or 0,
        fine_tuned_model_checkpoint=name,
        metrics=metrics,
    )


def to_file(item: Any, provider: str, sha256: str | None = None) -> FileObject:
    status = _field(item, "processing_status")
    return FileObject(
        id=str(item.id),
        provider=provider,
        filename=str(_field(item, "filename") or ""),
        bytes=_size(_field(item, "bytes")),
        created_at=int(_field(item, "created_at") or 0),
        purpose=str(_field(item, "purpose") or "fine-tune"),
        status=str(status).lower() if status else None,
        sha256=sha256,
    )


def fingerprint(job: Job | Mapping[str, Any]) -> tuple[Any, ...]:
    """What identifies "the job this create asked for" when Together has no idempotency key
    and no metadata: the files, the model, the suffix and the epochs (see ``TogetherProvider.submit_job``)."""
    get = job.get if isinstance(job, Mapping) else lambda k: getattr(job, k)
    return (get("model"), get("training_file"), get("validation_file") or None, get("suffix"))


def _size(value: Any) -> int | None:
    """Together reports ``bytes`` (0 while an upload is being registered); None if absent."""
    return None if value is None else int(value)
