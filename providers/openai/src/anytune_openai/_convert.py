"""Between anytune's types and the SDK's: a JobSpec becomes ``jobs.create`` arguments, SDK
objects become Job / Event / Checkpoint / FileObject. Nothing from the SDK leaves this module
except as anytune types; unknown statuses and fields pass through as data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from anytune.types import (
    AUTO,
    Checkpoint,
    Event,
    FileObject,
    Hyperparameters,
    Job,
    JobError,
    JobSpec,
    Metrics,
)

REQUEST_ID_KEY = "anytune_request_id"
"""Metadata key holding the client-generated id that makes ``create_job`` exactly-once."""

MAX_METADATA_PAIRS = 16
MAX_SUFFIX = 64


def _wandb_from_options(options: Mapping[str, Any]) -> dict[str, Any] | None:
    if not options.get("wandb_project"):
        return None
    wandb: dict[str, Any] = {"project": options["wandb_project"]}
    for option, field in (("wandb_entity", "entity"), ("wandb_name", "name")):
        if options.get(option):
            wandb[field] = options[option]
    if options.get("wandb_tags"):
        wandb["tags"] = list(options["wandb_tags"])
    return {"type": "wandb", "wandb": wandb}


def create_arguments(spec: JobSpec, request_id: str) -> dict[str, Any]:
    """Keyword arguments for ``client.fine_tuning.jobs.create``, for a spec that passed
    ``_spec.check_spec`` (OpenAI's limits are checked there, before any upload)."""
    metadata = {k: str(v) for k, v in spec.metadata.items()}
    metadata[REQUEST_ID_KEY] = request_id
    names = ["n_epochs", "batch_size", "learning_rate_multiplier"]
    if spec.method == "dpo":
        names.append("beta")
    values = spec.hyperparameters.to_dict()
    hyperparameters = {n: values[n] for n in names if values.get(n) not in (None, AUTO)}
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "training_file": spec.training_file,
        "method": {"type": spec.method, spec.method: {"hyperparameters": hyperparameters}},
        "metadata": metadata,
    }
    if spec.validation_file:
        kwargs["validation_file"] = spec.validation_file
    if spec.suffix:
        kwargs["suffix"] = spec.suffix
    if spec.seed is not None:
        kwargs["seed"] = spec.seed
    integrations = [dict(i) for i in spec.integrations]
    wandb = _wandb_from_options(spec.options)
    if wandb is not None:
        integrations.append(wandb)
    if integrations:
        kwargs["integrations"] = integrations
    return kwargs


def _field(obj: Any, name: str) -> Any:
    """A field of an SDK model, including ones the SDK does not declare."""
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def _hyperparameters(job: Any, method_type: str) -> Hyperparameters:
    method = _field(job, "method")
    source = (
        getattr(getattr(method, method_type, None), "hyperparameters", None) if method else None
    )
    if source is None:
        source = _field(job, "hyperparameters")
    if source is None:
        return Hyperparameters()
    raw = source.model_dump() if hasattr(source, "model_dump") else dict(source)
    wanted = ["n_epochs", "batch_size", "learning_rate_multiplier"]
    if method_type == "dpo":
        wanted.append("beta")
    values = {k: raw[k] for k in wanted if raw.get(k) is not None}
    try:
        return Hyperparameters.from_dict(values)
    except ValueError:
        # A value outside anytune's ranges is the server's business, not a reason to crash.
        return Hyperparameters()


def to_job(job: Any, provider: str) -> Job:
    method = _field(job, "method")
    method_type = str(getattr(method, "type", None) or "supervised")
    error = _field(job, "error")
    job_error = None
    if error is not None and (getattr(error, "code", None) or getattr(error, "message", None)):
        job_error = JobError(
            code=str(getattr(error, "code", "") or ""),
            message=str(getattr(error, "message", "") or ""),
            param=getattr(error, "param", None),
        )
    metadata = dict(_field(job, "metadata") or {})
    metadata.pop(REQUEST_ID_KEY, None)
    return Job(
        id=job.id,
        provider=provider,
        model=job.model,
        status=str(job.status),
        created_at=int(job.created_at),
        training_file=job.training_file,
        validation_file=_field(job, "validation_file"),
        finished_at=_field(job, "finished_at"),
        fine_tuned_model=_field(job, "fine_tuned_model"),
        method=method_type,
        hyperparameters=_hyperparameters(job, method_type),
        trained_tokens=_field(job, "trained_tokens"),
        error=job_error,
        metadata=metadata,
        estimated_finish=_field(job, "estimated_finish"),
        seed=_field(job, "seed"),
        suffix=_field(job, "user_provided_suffix"),
    )


def request_id_of(job: Any) -> str | None:
    metadata = _field(job, "metadata") or {}
    value = metadata.get(REQUEST_ID_KEY)
    return str(value) if value is not None else None


def _numbers(data: Any) -> dict[str, float]:
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    if not isinstance(data, Mapping):
        return {}
    return {
        str(k): v
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def to_event(event: Any) -> Event:
    data = _numbers(_field(event, "data"))
    metrics = None
    if _field(event, "type") == "metrics" or "step" in data:
        for name in ("step", "total_steps"):
            if name in data:
                data[name] = int(data[name])
        metrics = Metrics.from_dict(data)
    return Event(
        id=event.id,
        created_at=int(_field(event, "created_at") or 0),
        level=str(_field(event, "level") or "info"),
        message=str(_field(event, "message") or ""),
        metrics=metrics,
    )


def to_checkpoint(checkpoint: Any) -> Checkpoint:
    return Checkpoint(
        id=checkpoint.id,
        job_id=checkpoint.fine_tuning_job_id,
        step=int(checkpoint.step_number),
        created_at=int(checkpoint.created_at),
        fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
        metrics=_numbers(_field(checkpoint, "metrics")),
    )


def to_file(file: Any, provider: str, sha256: str | None = None) -> FileObject:
    return FileObject(
        id=file.id,
        provider=provider,
        filename=str(file.filename),
        bytes=int(file.bytes),
        created_at=int(file.created_at),
        purpose=str(file.purpose),
        status=_field(file, "status"),
        sha256=sha256,
    )
