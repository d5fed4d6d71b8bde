"""One Ray submission of a job (a "run"): what it runs, how its Ray status reads as the job's,
how it ended, and resume/pause on top of it.

Status mapping: PENDING -> queued, RUNNING -> running, STOPPED -> cancelled, FAILED -> failed
(the recipe's code and message from the result file, else ``worker_died`` with Ray's
message), SUCCEEDED -> succeeded, or paused when the recipe stopped for a pause request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune_local import checkpoints as local_checkpoints

from anytune.errors import ConflictError, NotFoundError
from anytune.spec import ValidatedSpec
from anytune.types import Checkpoint, Hyperparameters, Job, JobError
from anytune_ray import multinode
from anytune_ray.events import events_path, latest_metrics
from anytune_ray.options import recipe_options
from anytune_ray.records import JobRow, submission_id

if TYPE_CHECKING:
    from anytune_ray.provider import RayProvider

SUBMIT_GRACE = 300.0
"""Seconds a run may be without its Ray submission before it counts as lost."""
STATUS = {"PENDING": "queued", "RUNNING": "running", "STOPPED": "cancelled", "FAILED": "failed"}


def run_dir(provider: RayProvider, job_id: str, run: int) -> str:
    return provider.storage.path("jobs", job_id, "runs", str(run))


def adapter_path(provider: RayProvider, job_id: str) -> str:
    return provider.storage.path("jobs", job_id, "adapter")


def spec_of(provider: RayProvider, row: JobRow) -> ValidatedSpec:
    return provider.load_spec(json.loads(row.spec))


def start(
    provider: RayProvider,
    row: JobRow,
    run: int,
    *,
    resume_from: str | None,
    note: str | None = None,
) -> None:
    """Write run ``run``'s request (and ``note``, its first event) and submit it, exactly
    once: the submission id is ``<job>-r<run>``, and Ray refuses a second one with that id
    (see ``RayJobs``), whichever machine sends it."""
    from anytune_local.recipe import TrainRequest

    storage = provider.storage
    data = json.loads(row.spec)
    spec = spec_of(provider, row)
    folder = run_dir(provider, row.id, run)
    job_dir = storage.path("jobs", row.id)
    # A shared path names files as every node opens them; on object storage the request
    # names storage paths, which the job's staging entrypoint maps to the node's disk
    # (``anytune_ray.staging``).
    local = Path
    train_data = storage.file_data(spec.training_file)
    names = {str(local(train_data)): storage.get_file(spec.training_file).filename}
    valid_data = ""
    if spec.validation_file:
        valid_data = storage.file_data(spec.validation_file)
        names[str(local(valid_data))] = storage.get_file(spec.validation_file).filename
    request = TrainRequest(
        job_id=row.id,
        base_model=str(data.get("base_model") or spec.model),
        method=spec.method,
        train_path=local(train_data),
        valid_path=local(valid_data) if spec.validation_file else None,
        output_dir=local(f"{job_dir}/adapter"),
        checkpoint_dir=local(f"{job_dir}/checkpoints"),
        hyperparameters=spec.hyperparameters,
        options=recipe_options(spec.options),
        seed=spec.seed,
        resume_from_checkpoint=local(resume_from) if resume_from else None,
        file_names=names,
    )
    events = events_path(storage, row.id, run)
    if not storage.fs.exists(f"{folder}/request.json"):  # a retried create writes nothing twice
        if note:
            storage.append_line(events, _line(note))
        storage.write_text(f"{folder}/request.json", request.to_json())
        sid = submission_id(row.id, run)
        storage.append_line(events, _line(f"Submitted to Ray at {provider.address} as {sid}."))
    options = spec.options
    workers = int(options.get("num_workers") or 1)
    worker = ["-m", "anytune_local.run_spec", f"{folder}/request.json"]
    worker += ["--result", f"{folder}/result.json", "--events", events]
    worker += ["--control", f"{folder}/control"]
    python = str(options.get("python") or "python")
    nodes = int(options.get("num_nodes") or 1)
    if nodes > 1:  # one torchrun per node, placed by the job's driver
        argv = multinode.command(python, worker, options)
    elif workers > 1:
        # torchrun inside the job: the local provider's tested DDP path, one node.
        argv = [python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1"]
        argv += ["--nproc_per_node", str(workers), *worker]
    else:
        argv = [python, *worker]
    if not storage.local:
        stage = [python, "-m", "anytune_ray.staging", "--storage", storage.uri, "--run", folder]
        argv = [*stage, "--", *argv]
    env = {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    runtime_env: dict[str, Any] = {"env_vars": env}
    if options.get("install"):
        runtime_env["pip"] = [f"anytune-local=={version('anytune-local')}"]
        if nodes > 1 or not storage.local:  # the entrypoint is anytune_ray's own module
            runtime_env["pip"].append(f"anytune-ray=={version('anytune-ray')}")
    # A multi-node job's driver holds nothing: its placement group holds each node's share.
    own: Mapping[str, Any] = {} if nodes > 1 else options
    body: dict[str, Any] = {
        "submission_id": submission_id(row.id, run),
        "entrypoint": provider.entrypoint(argv),
        "entrypoint_num_cpus": float(own.get("num_cpus") or 0),
        "entrypoint_num_gpus": float(own.get("num_gpus") or 0),
        "runtime_env": runtime_env,
        # How a machine listing the cluster finds anytune's jobs; the record itself is in
        # storage (never a secret: the auth headers are the connection's, not the job's).
        "metadata": {
            "anytune_job": row.id,
            "anytune_run": str(run),
            "anytune_storage": storage.uri,
        },
    }
    if int(own.get("memory") or 0) > 0:
        body["entrypoint_memory"] = int(own["memory"])
    provider.rest.ensure_submitted(body)


def to_job(provider: RayProvider, row: JobRow, *, info: dict[str, Any] | None = None) -> Job:
    spec = spec_of(provider, row)
    if info is None:
        try:
            info = provider.rest.info(row.submission_id())
        except NotFoundError:
            info = None
    status, error, finished, model, tokens = _state(provider, row, info)
    return Job(
        id=row.id,
        provider=provider.name,
        model=spec.model,
        status=status,
        created_at=int(row.created_at),
        training_file=spec.training_file,
        validation_file=spec.validation_file,
        finished_at=finished,
        fine_tuned_model=model,
        method=spec.method,
        hyperparameters=spec.hyperparameters or Hyperparameters(),
        trained_tokens=tokens,
        error=error,
        metadata=dict(spec.metadata),
        seed=spec.seed,
        suffix=spec.suffix,
        metrics=latest_metrics(provider.storage, row.id, row.run)
        if status in ("running", "succeeded", "failed")
        else None,
    )


def _state(
    provider: RayProvider, row: JobRow, info: dict[str, Any] | None
) -> tuple[str, JobError | None, int | None, str | None, int | None]:
    now = int(time.time())
    resume = f"`anytune resume {row.id}` continues from the newest checkpoint"
    if info is None:
        if _submitting(provider, row):
            return "queued", None, None, None, None
        error = JobError(
            "lost_submission",
            f"Ray has no submission {row.submission_id()} (the cluster restarted or the job "
            f"was deleted); {resume}",
        )
        _close(provider, row, f"Job failed: {error.message}", "error")
        return "failed", error, now, None, None
    ray_status = str(info.get("status") or "PENDING")
    if ray_status not in ("SUCCEEDED", "FAILED", "STOPPED"):
        return STATUS.get(ray_status, ray_status.lower()), None, None, None, None
    finished = int(info["end_time"] / 1000) if info.get("end_time") else now
    outcome = _outcome(provider, row)
    tokens = outcome.get("trained_tokens") if outcome else None
    if ray_status == "STOPPED" or (outcome and outcome.get("stopped") == "cancel"):
        _close(provider, row, "Job cancelled.", "info")
        return "cancelled", None, finished, None, tokens
    if outcome and outcome.get("ok") and outcome.get("stopped") == "pause":
        where = outcome.get("last_checkpoint") or "no checkpoint"
        _close(provider, row, f"Job paused ({where}); continue with `anytune resume {row.id}`.")
        return "paused", None, None, None, tokens
    if ray_status == "SUCCEEDED" and outcome and outcome.get("ok"):
        model = provider.storage.public(adapter_path(provider, row.id))
        _close(provider, row, f"Job succeeded. Fine-tuned model (PEFT adapter): {model}")
        return "succeeded", None, finished, model, tokens
    if outcome and not outcome.get("ok"):
        error = JobError(str(outcome.get("code") or "training_error"), str(outcome.get("message")))
    else:
        cause = str(info.get("message") or "the job ended without a result").strip()
        error = JobError("worker_died", f"{_short(cause)}; {resume}")
    _close(provider, row, f"Job failed: {error.message}", "error")
    return "failed", error, finished, None, tokens


def _submitting(provider: RayProvider, row: JobRow) -> bool:
    """Whether the latest run, which Ray does not know, is still being submitted: its folder
    is written first (the resume note, the request), then the POST (4 tries of up to 30 s
    each) makes the submission. Another machine reading in between sees a run without a
    submission, which is not yet a lost one; ``SUBMIT_GRACE`` seconds after the last write,
    it is."""
    storage = provider.storage
    folder = run_dir(provider, row.id, row.run)
    if storage.fs.exists(f"{folder}/closed"):
        return False  # someone already found it lost (and wrote so to its events)
    age = storage.age(f"{folder}/request.json")
    if age is None:  # a resume writes its note first, then the request
        age = storage.age(f"{folder}/events.jsonl")
    return age is not None and age < SUBMIT_GRACE


def _outcome(provider: RayProvider, row: JobRow) -> dict[str, Any] | None:
    """Rank 0's result, or a failure another rank wrote (as the local worker reads them)."""
    storage = provider.storage
    folder = run_dir(provider, row.id, row.run)
    first = storage.read_json(f"{folder}/result.json")
    if isinstance(first, dict) and first.get("ok"):
        return first
    for path in sorted(storage.fs.glob(f"{folder}/result-rank*.json")):
        other = storage.read_json(str(path))
        if isinstance(other, dict) and not other.get("ok"):
            return other
    return first if isinstance(first, dict) else None


def _close(provider: RayProvider, row: JobRow, message: str, level: str = "info") -> None:
    """Write how the run ended to its events, once: whoever polls first writes it, on any
    machine (the ``closed`` marker in storage; this machine's record only saves a look)."""
    if row.closed_run >= row.run:
        return
    storage = provider.storage
    if storage.create_once(f"{run_dir(provider, row.id, row.run)}/closed"):
        storage.append_line(events_path(storage, row.id, row.run), _line(message, level))
    provider.records.close_run(row.id, row.run)


def _line(message: str, level: str = "info") -> dict[str, Any]:
    return {"kind": "event", "created_at": int(time.time()), "level": level, "message": message}


def _short(text: str) -> str:
    """Ray's failure message ends with the driver's last log lines: keep the first line and
    the last line that looks like an error."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return text
    errors = [line for line in lines[1:] if "Error" in line or "error" in line]
    tail = f" ({errors[-1][:300]})" if errors else ""
    return lines[0][:300] + tail


# -- checkpoints, pause, resume -------------------------------------------------------------
def checkpoints(provider: RayProvider, row: JobRow) -> list[Checkpoint]:
    storage = provider.storage
    within = Path(storage.path("jobs", row.id, "checkpoints"))
    found = []
    for step, path, mtime in storage.checkpoint_dirs(row.id):
        if storage.local and local_checkpoints.problem(Path(path), within=within) is not None:
            continue
        found.append(
            Checkpoint(
                id=f"ftckpt-{row.id}-{step}",
                job_id=row.id,
                step=step,
                created_at=int(mtime),
                fine_tuned_model_checkpoint=storage.public(path),
                metrics=_checkpoint_metrics(provider, path),
            )
        )
    return found


def _checkpoint_metrics(provider: RayProvider, path: str) -> dict[str, float]:
    state = provider.storage.read_json(f"{path}/trainer_state.json")
    metrics: dict[str, float] = {}
    for entry in (state or {}).get("log_history", []) if isinstance(state, dict) else []:
        if isinstance(entry.get("loss"), (int, float)):
            metrics["train_loss"] = float(entry["loss"])
        if isinstance(entry.get("eval_loss"), (int, float)):
            metrics["valid_loss"] = float(entry["eval_loss"])
    return metrics


def pause(provider: RayProvider, row: JobRow) -> Job:
    job = to_job(provider, row)
    if str(job.status) == "paused":
        return job
    if job.is_terminal:
        raise ConflictError(
            f"job {row.id} is {job.status}; only queued or running jobs can be paused",
            provider=provider.name,
        )
    folder = run_dir(provider, row.id, row.run)
    provider.storage.write_text(f"{folder}/control", "pause\n")
    provider.storage.append_line(
        events_path(provider.storage, row.id, row.run),
        _line("Pause requested: the job saves a checkpoint and pauses after this step."),
    )
    return to_job(provider, row)


def resume(provider: RayProvider, row: JobRow) -> Job:
    """A paused or failed job continues from its newest usable checkpoint, as a new Ray
    submission under the same job id."""
    job = to_job(provider, row)
    if str(job.status) not in ("paused", "failed"):
        raise ConflictError(
            f"job {row.id} is {job.status}; only paused and failed jobs can be resumed",
            provider=provider.name,
        )
    usable = checkpoints(provider, row)
    latest = usable[-1] if usable else None
    # The next run's number comes from storage (``provider._row``): two machines resuming at
    # once both submit ``<job>-r<n>``, and Ray keeps one.
    fresh = replace(row, runs=row.runs + 1)
    provider.records.note_runs(row.id, fresh.runs)
    where = (
        f"from the checkpoint at step {latest.step} ({latest.fine_tuned_model_checkpoint})"
        if latest
        else "from the start (no usable checkpoint)"
    )
    resume_from = (
        provider.storage.path("jobs", row.id, "checkpoints", f"checkpoint-{latest.step}")
        if latest
        else None
    )
    start(provider, fresh, fresh.run, resume_from=resume_from, note=f"Job resumed {where}.")
    return to_job(provider, fresh)


__all__ = ["STATUS", "adapter_path", "checkpoints", "pause", "resume", "start", "to_job"]
