"""Store records to anytune's ``Job`` type."""

from __future__ import annotations

import json

from anytune.types import Hyperparameters, Job, JobError, Metrics
from anytune_local.store import JobRecord

_HYPERPARAMETER_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")


def to_job(record: JobRecord) -> Job:
    """The ``Job`` for a row; hyperparameters show what "auto" resolved to once known."""
    spec = record.spec_dict
    running = record.status in ("queued", "running")
    return Job(
        id=record.id,
        provider="local",
        model=record.model,
        status=record.status,
        created_at=int(record.created_at),
        training_file=spec["training_file"],
        validation_file=spec.get("validation_file"),
        finished_at=int(record.finished_at) if record.finished_at is not None else None,
        fine_tuned_model=record.fine_tuned_model,
        method=spec.get("method", "supervised"),
        hyperparameters=_hyperparameters(
            spec.get("hyperparameters"), record.resolved_hyperparameters
        ),
        trained_tokens=record.trained_tokens,
        error=JobError(record.error_code, record.error_message or "")
        if record.error_code
        else None,
        metadata=dict(spec.get("metadata") or {}),
        estimated_finish=int(record.estimated_finish)
        if running and record.estimated_finish is not None
        else None,
        seed=spec.get("seed"),
        suffix=spec.get("suffix"),
        metrics=latest_metrics(record),
    )


def latest_metrics(record: JobRecord) -> Metrics | None:
    """The metrics of the job's latest reported step (None before the first)."""
    if not record.progress:
        return None
    try:
        return Metrics.from_dict(json.loads(record.progress))
    except (TypeError, ValueError):
        return None


def _hyperparameters(requested: object, resolved_json: str | None) -> Hyperparameters:
    base: dict[str, object] = {}
    if isinstance(requested, dict):
        base = {k: v for k, v in requested.items() if k in _HYPERPARAMETER_NAMES}
    merged = dict(base)
    try:
        resolved = json.loads(resolved_json) if resolved_json else {}
    except ValueError:
        resolved = {}
    if isinstance(resolved, dict):
        for name in _HYPERPARAMETER_NAMES:
            if resolved.get(name) is not None and (name != "beta" or "beta" in base):
                merged[name] = resolved[name]
    for candidate in (merged, base):
        try:
            return Hyperparameters.from_dict(candidate)
        except (TypeError, ValueError):
            continue
    return Hyperparameters()
