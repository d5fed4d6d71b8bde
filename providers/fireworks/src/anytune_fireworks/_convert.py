"""Between anytune's types and Fireworks': create bodies for SFT and DPO jobs, and SDK objects
(SupervisedFineTuningJob, DpoJob, Dataset) as Job / Event / FileObject.

Resource names are ``accounts/ACCOUNT/KIND/ID``; anytune shows only the ``ID`` (the account id
is never printed), and builds the names back from the provider's account.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from anytune.spec import ValidatedSpec
from anytune.types import (
    AUTO,
    Event,
    FileObject,
    Hyperparameters,
    Job,
    JobError,
    JobStatus,
    Metrics,
)
from anytune_fireworks import catalog

STATES: dict[str, JobStatus] = {
    "JOB_STATE_CREATING": JobStatus.VALIDATING_FILES,
    "JOB_STATE_VALIDATING": JobStatus.VALIDATING_FILES,
    "JOB_STATE_CREATING_INPUT_DATASET": JobStatus.VALIDATING_FILES,
    "JOB_STATE_PENDING": JobStatus.QUEUED,
    "JOB_STATE_RE_QUEUEING": JobStatus.QUEUED,
    "JOB_STATE_IDLE": JobStatus.QUEUED,
    "JOB_STATE_RUNNING": JobStatus.RUNNING,
    "JOB_STATE_WRITING_RESULTS": JobStatus.RUNNING,
    "JOB_STATE_CANCELLING": JobStatus.RUNNING,
    "JOB_STATE_PAUSED": JobStatus.PAUSED,
    "JOB_STATE_COMPLETED": JobStatus.SUCCEEDED,
    "JOB_STATE_EARLY_STOPPED": JobStatus.SUCCEEDED,
    "JOB_STATE_FAILED": JobStatus.FAILED,
    "JOB_STATE_EXPIRED": JobStatus.FAILED,
    "JOB_STATE_CANCELLED": JobStatus.CANCELLED,
}
TERMINAL = ("JOB_STATE_COMPLETED", "JOB_STATE_EARLY_STOPPED", "JOB_STATE_FAILED",
            "JOB_STATE_EXPIRED", "JOB_STATE_CANCELLED")  # fmt: skip
DPO_PREFIX = "dpo-"
"""anytune's DPO job ids start with this (Fireworks keeps DPO jobs in another collection)."""


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def last_segment(name: Any) -> str:
    return str(name or "").rstrip("/").rsplit("/", 1)[-1]


def timestamp(value: Any) -> int | None:
    if value is None or value == "":
        return None
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


# -- the create requests -------------------------------------------------------------------
def _training(spec: ValidatedSpec, account: str, job_id: str) -> dict[str, Any]:
    """The settings SFT jobs take at the top level and DPO jobs in ``training_config``."""
    hp = spec.hyperparameters
    opts = spec.options
    body: dict[str, Any] = {}
    if not opts.get_str("warm_start_from"):
        body["base_model"] = catalog.full_name(spec.model)
    else:
        body["warm_start_from"] = opts.get_str("warm_start_from")
    body["epochs"] = catalog.DEFAULT_EPOCHS if hp.n_epochs == AUTO else int(hp.n_epochs)
    if hp.batch_size != AUTO:
        # anytune's batch_size counts examples; Fireworks' batch_size counts tokens.
        body["batch_size_samples"] = int(hp.batch_size)
    multiplier = 1.0 if hp.learning_rate_multiplier == AUTO else float(hp.learning_rate_multiplier)
    body["learning_rate"] = catalog.BASE_LEARNING_RATE * multiplier
    for option, name in (
        ("lora_r", "lora_rank"),
        ("max_length", "max_context_length"),
        ("gradient_accumulation_steps", "gradient_accumulation_steps"),
        ("warmup_steps", "learning_rate_warmup_steps"),
    ):
        value = opts.get_int(option)
        if value is not None:
            body[name] = value
    if opts.get_float("weight_decay") is not None:
        body["optimizer_weight_decay"] = opts.get_float("weight_decay")
    body["output_model"] = opts.get_str("output_model") or job_id
    return body


def _wandb(spec: ValidatedSpec) -> dict[str, Any] | None:
    project = spec.options.get_str("wandb_project")
    if not project:
        return None
    config: dict[str, Any] = {"enabled": True, "project": project}
    if spec.options.get_str("wandb_entity"):
        config["entity"] = spec.options.get_str("wandb_entity")
    if os.environ.get("WANDB_API_KEY"):  # a secret: read at submit time, never stored
        config["api_key"] = os.environ["WANDB_API_KEY"]
    return config


def dataset_name(account: str, dataset_id: str) -> str:
    return f"accounts/{account}/datasets/{dataset_id}"


def sft_arguments(spec: ValidatedSpec, account: str, job_id: str) -> dict[str, Any]:
    """Keyword arguments for ``client.supervised_fine_tuning_jobs.create``."""
    kwargs: dict[str, Any] = {
        "supervised_fine_tuning_job_id": job_id,
        "dataset": dataset_name(account, spec.training_file),
        **_training(spec, account, job_id),
    }
    if spec.validation_file:
        kwargs["evaluation_dataset"] = dataset_name(account, spec.validation_file)
    if spec.options.get_bool("early_stop"):
        kwargs["early_stop"] = True
    if spec.options.get_bool("eval_auto_carveout"):
        kwargs["eval_auto_carveout"] = True
    if spec.suffix:
        kwargs["display_name"] = spec.suffix
    wandb = _wandb(spec)
    if wandb:
        kwargs["wandb_config"] = wandb
    return kwargs


def dpo_arguments(spec: ValidatedSpec, account: str, job_id: str) -> dict[str, Any]:
    """Keyword arguments for ``client.dpo_jobs.create``."""
    loss: dict[str, Any] = {"method": "DPO"}
    beta = spec.hyperparameters.beta
    if beta is not None and beta != AUTO:
        loss["dpo"] = {"beta": float(beta)}
    kwargs: dict[str, Any] = {
        "dpo_job_id": job_id,
        "dataset": dataset_name(account, spec.training_file),
        "training_config": _training(spec, account, job_id),
        "loss_config": loss,
    }
    if spec.suffix:
        kwargs["display_name"] = spec.suffix
    wandb = _wandb(spec)
    if wandb:
        kwargs["wandb_config"] = wandb
    return kwargs


# -- SDK objects -> anytune ----------------------------------------------------------------
def _hyperparameters(source: Any, method: str, job: Any) -> Hyperparameters:
    values: dict[str, Any] = {}
    epochs = _field(source, "epochs")
    if isinstance(epochs, int) and epochs >= 1:
        values["n_epochs"] = epochs
    batch = _field(source, "batch_size_samples")
    if isinstance(batch, int) and batch >= 1:
        values["batch_size"] = batch
    lr = _field(source, "learning_rate")
    if isinstance(lr, (int, float)) and lr > 0:
        values["learning_rate_multiplier"] = round(lr / catalog.BASE_LEARNING_RATE, 6)
    if method == "dpo":
        beta = _field(_field(_field(job, "loss_config"), "dpo"), "beta")
        if isinstance(beta, (int, float)) and beta > 0:
            values["beta"] = float(beta)
    try:
        return Hyperparameters.from_dict(values)
    except ValueError:
        return Hyperparameters()


def to_job(job: Any, provider: str) -> Job:
    job_id = last_segment(_field(job, "name"))
    method = (
        "dpo" if job_id.startswith(DPO_PREFIX) or _field(job, "training_config") else "supervised"
    )
    source = _field(job, "training_config") if method == "dpo" else job
    state = str(_field(job, "state") or "")
    status: JobStatus | str = STATES.get(state, state)
    created = timestamp(_field(job, "create_time")) or 0
    finished = None
    if state in TERMINAL:
        finished = (
            timestamp(_field(job, "completed_time"))
            or timestamp(_field(job, "update_time"))
            or created
        )
    error = None
    if status == JobStatus.FAILED:
        detail = _field(job, "status")
        error = JobError(
            code=str(_field(detail, "code") or "FAILED"),
            message=str(_field(detail, "message") or "Fireworks reported the job as failed"),
        )
    output = _field(source, "output_model")
    evaluation = _field(job, "evaluation_dataset")
    return Job(
        id=job_id,
        provider=provider,
        model=catalog.short_name(
            str(_field(source, "base_model") or _field(source, "warm_start_from") or "")
        ),
        status=status,
        created_at=created,
        training_file=last_segment(_field(job, "dataset")),
        validation_file=last_segment(evaluation) if evaluation else None,
        finished_at=finished,
        fine_tuned_model=last_segment(output) if status == JobStatus.SUCCEEDED and output else None,
        method=method,
        hyperparameters=_hyperparameters(source, method, job),
        error=error,
        suffix=_field(job, "display_name"),
    )


# The states every job passes in order; a later state implies the earlier ones. SEQ numbers
# leave room for the progress events (10% steps) between running and writing results.
_PATH = (
    (1, "JOB_STATE_VALIDATING"),
    (2, "JOB_STATE_PENDING"),
    (3, "JOB_STATE_RUNNING"),
    (150, "JOB_STATE_WRITING_RESULTS"),
)
_OUTCOME_SEQ = 200


def to_events(job: Any) -> list[Event]:
    """A job's history as events. Fireworks keeps no event log for fine-tuning jobs, only the
    job's current state and progress, so the history is derived from them: the creation, each
    state of the lifecycle the job has reached (a later state implies the earlier ones), one
    event per 10% of training done, and the outcome.

    Ids are ``fwevent-JOB-SEQ``, SEQ increasing along the lifecycle, and an event a later
    snapshot implies always gets a SEQ above every event an earlier snapshot showed (training
    done means 100%), so polling with a cursor sees each event once, in order; a cursor stays
    valid even when a later snapshot no longer implies its event (see ``after_index``). Events
    implied but not seen carry the job's creation time (Fireworks does not say when)."""
    job_id = last_segment(_field(job, "name"))
    state = str(_field(job, "state") or "")
    created = timestamp(_field(job, "create_time")) or 0
    ended = (
        timestamp(_field(job, "completed_time")) or timestamp(_field(job, "update_time")) or created
    )
    progress = _field(job, "job_progress")
    raw_percent = _field(progress, "percent")
    percent = raw_percent if isinstance(raw_percent, int) else 0
    completed = state in ("JOB_STATE_COMPLETED", "JOB_STATE_EARLY_STOPPED")
    names = [name for _, name in _PATH]
    reached = len(_PATH) if completed else (names.index(state) + 1 if state in names else 0)
    if reached == len(_PATH):
        percent = 100  # writing results: training is done
    events: list[tuple[int, int, str, str, Metrics | None]] = [
        (0, created, "info", "job created", None)
    ]
    for seq, name in _PATH[:reached]:
        text = name.removeprefix("JOB_STATE_").lower().replace("_", " ")
        events.append((seq, created, "info", text, None))
    for decile in range(10, min(percent, 100) + 1, 10):
        metrics = Metrics(step=decile, total_steps=100, epoch=_field(progress, "epoch"))
        events.append((10 + decile, created, "info", f"{decile}% trained", metrics))
    if state in TERMINAL:
        failed = STATES[state] == JobStatus.FAILED
        detail = _field(_field(job, "status"), "message")
        text = "job " + state.removeprefix("JOB_STATE_").lower().replace("_", " ")
        if failed and detail:
            text += f": {detail}"
        events.append(
            (_OUTCOME_SEQ, max(ended, created), "error" if failed else "info", text, None)
        )
    return [
        Event(
            id=f"fwevent-{job_id}-{seq:03d}",
            created_at=at,
            level=level,
            message=message,
            metrics=metrics,
        )
        for seq, at, level, message, metrics in sorted(events, key=lambda e: e[0])
    ]


def after_index(events: list[Event], job_id: str, after: str) -> int | None:
    """How many of ``events`` come at or before the cursor ``after``; None if ``after`` is
    not an event id of this job."""
    prefix = f"fwevent-{job_id}-"
    if not after.startswith(prefix) or not after[len(prefix) :].isdigit():
        return None
    seq = int(after[len(prefix) :])
    return sum(1 for e in events if int(e.id[len(prefix) :]) <= seq)


def to_file(dataset: Any, provider: str, sha256: str | None = None) -> FileObject:
    dataset_id = last_segment(_field(dataset, "name"))
    return FileObject(
        id=dataset_id,
        provider=provider,
        filename=str(_field(dataset, "display_name") or dataset_id),
        bytes=None,  # Fireworks' Dataset reports no size
        created_at=timestamp(_field(dataset, "create_time")) or 0,
        purpose="fine-tune",
        status=str(_field(dataset, "state") or "").lower() or None,
        sha256=sha256,
    )
