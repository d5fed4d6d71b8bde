"""anytune's types as the JSON objects of OpenAI's API (``file``, ``fine_tuning.job``, ...).

Names the provider uses internally (a local adapter directory, the provider's own file ids)
never appear: jobs show the public file ids and the ``ft:`` model name the server gave.
"""

from __future__ import annotations

from typing import Any

from anytune.serve.state import FileRow, JobRow, UploadRow
from anytune.types import AUTO, Checkpoint, Event, Job, JobStatus

# Metrics OpenAI's checkpoints carry; anything else a provider reports is left out there.
_CHECKPOINT_METRICS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


def file_json(row: FileRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
    }


def upload_json(row: UploadRow, file: FileRow | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "upload",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "expires_at": row.expires_at,
        "file": file_json(file) if file is not None else None,
    }


def _hyperparameters(job: Job, method: str) -> dict[str, Any]:
    values = job.hyperparameters.to_dict()
    names = ["batch_size", "learning_rate_multiplier", "n_epochs"]
    if method == "dpo":
        names.append("beta")
    return {name: AUTO if values.get(name) is None else values[name] for name in names}


def job_json(row: JobRow, job: Job, organization: str) -> dict[str, Any]:
    """``fine_tuning.job``; ``job`` is the provider's latest view, ``row`` the server's."""
    method = job.method or str(row.request.get("method", "supervised"))
    hyperparameters = _hyperparameters(job, method)
    error = None
    if job.error is not None:
        error = {"code": job.error.code, "message": job.error.message, "param": job.error.param}
    seed = job.seed if job.seed is not None else row.request.get("seed")
    return {
        "id": row.id,
        "object": "fine_tuning.job",
        "created_at": row.created_at,
        "error": error,
        "fine_tuned_model": row.model_name
        if job.fine_tuned_model and not row.model_deleted
        else None,
        "finished_at": job.finished_at,
        "hyperparameters": hyperparameters,
        "model": row.model,
        "organization_id": organization,
        "result_files": [],
        "status": str(job.status),
        "trained_tokens": job.trained_tokens,
        "training_file": row.training_file,
        "validation_file": row.validation_file,
        "integrations": row.request.get("integrations") or None,
        "seed": int(seed) if seed is not None else 0,
        "estimated_finish": job.estimated_finish
        if str(job.status) == JobStatus.RUNNING.value
        else None,
        "method": {"type": method, method: {"hyperparameters": hyperparameters}},
        "metadata": dict(job.metadata) or row.request.get("metadata") or None,
        "user_provided_suffix": row.request.get("suffix"),
    }


def event_json(event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "fine_tuning.job.event",
        "id": event.id,
        "created_at": event.created_at,
        "level": event.level if event.level in ("info", "warn", "error") else "info",
        "message": event.message,
        "type": "message",
    }
    if event.metrics is not None:
        body["type"] = "metrics"
        data = event.metrics.to_dict()
        # OpenAI's metrics are one flat object: the provider's extra ones join the others.
        data.update(data.pop("extra", None) or {})
        body["data"] = data
    else:
        body["data"] = {}
    return body


def checkpoint_name(row: JobRow, step: int) -> str:
    """OpenAI names a checkpoint model after the final one: ``ft:...:ID:ckpt-step-N``."""
    return f"{row.model_name}:ckpt-step-{step}"


def checkpoint_json(row: JobRow, checkpoint: Checkpoint) -> dict[str, Any]:
    metrics: dict[str, float] = {"step": float(checkpoint.step)}
    for name in _CHECKPOINT_METRICS:
        value = checkpoint.metrics.get(name)
        if isinstance(value, (int, float)):
            metrics[name] = float(value)
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": checkpoint.id,
        "created_at": checkpoint.created_at,
        "fine_tuned_model_checkpoint": checkpoint_name(row, checkpoint.step),
        "fine_tuning_job_id": row.id,
        "metrics": metrics,
        "step_number": checkpoint.step,
    }


def model_json(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def page(
    data: list[dict[str, Any]], has_more: bool, *, ids: bool = False, empty_id: str | None = None
) -> dict[str, Any]:
    """A list object; ``ids`` adds first_id/last_id (``empty_id`` when there is no data:
    the files list declares them as strings, the checkpoints list as nullable)."""
    body: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if ids:
        body["first_id"] = data[0]["id"] if data else empty_id
        body["last_id"] = data[-1]["id"] if data else empty_id
    return body
