"""What the supervisor hands a training process and reads back from it: the job's spec parsed
once into its typed record, the recipe's request, the training command line (one process or
torchrun, always isolated from the user's directory), the outcome file, and the record
written next to a finished adapter."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from anytune.spec import ValidatedSpec, restore
from anytune_local import processes
from anytune_local.store import JobRecord, Store


def load_spec(record: JobRecord) -> ValidatedSpec:
    """The job's stored spec, parsed once into the typed record every later step uses
    (options coerced and complete, hyperparameters typed); the model is the absolute
    ``base_model`` recorded at create."""
    from anytune_local.options import OPTION_SPECS

    data = record.spec_dict
    spec = restore(data, provider="local", option_specs=OPTION_SPECS)
    return dataclasses.replace(spec, model=str(data.get("base_model") or spec.model))


def build_request(store: Store, record: JobRecord) -> Any:
    """The recipe's ``TrainRequest`` for a job: the spec's typed hyperparameters and options,
    as validated once (``load_spec``)."""
    from anytune_local.recipe import TrainRequest

    spec = load_spec(record)
    job_dir = store.job_dir(record.id)
    train_path = _file_path(store, spec.training_file)
    valid_path = _file_path(store, spec.validation_file) if spec.validation_file else None
    return TrainRequest(
        job_id=record.id,
        base_model=spec.model,
        method=spec.method,
        train_path=train_path,
        valid_path=valid_path,
        file_names=_file_names(
            store, ((spec.training_file, train_path), (spec.validation_file, valid_path))
        ),
        output_dir=job_dir / "adapter",
        checkpoint_dir=job_dir / "checkpoints",
        hyperparameters=spec.hyperparameters,
        options=spec.options,
        seed=spec.seed,
        resume_from_checkpoint=Path(record.resume_from) if record.resume_from else None,
    )


JOB_RECORD = "anytune_job.json"
"""Written next to the adapter: what produced it (spec, resolved hyperparameters, result)."""


def write_job_record(record: JobRecord, adapter_dir: Path, outcome: dict[str, Any]) -> None:
    data = {
        "job_id": record.id,
        "provider": "local",
        "spec": record.spec_dict,
        "resolved_hyperparameters": json.loads(record.resolved_hyperparameters or "{}"),
        "trained_tokens": outcome.get("trained_tokens"),
        "final_train_loss": outcome.get("final_train_loss"),
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": time.time(),
        "attempts": record.attempt + 1,
    }
    try:
        (adapter_dir / JOB_RECORD).write_text(json.dumps(data, indent=2), encoding="utf-8")
    except OSError as exc:  # the adapter is still good; say so in the log
        print(f"anytune worker: could not write {JOB_RECORD}: {exc}", flush=True)


def _file_path(store: Store, file_id: str) -> Path:
    found = store.get_file(file_id)
    if found is None:
        raise RuntimeError(f"file {file_id} is not in the store")
    return Path(found.path)


def _file_names(store: Store, files: tuple[tuple[str | None, Path | None], ...]) -> dict[str, str]:
    """Stored path → the uploaded file's name, for the job's messages (``TrainRequest``)."""
    names: dict[str, str] = {}
    for file_id, path in files:
        found = store.get_file(file_id) if file_id and path else None
        if found is not None and found.filename:
            names[str(path)] = found.filename
    return names


def training_argv(
    store: Store, job_id: str, request_path: Path, result_path: Path, nproc: int
) -> list[str]:
    """The training command: one process, or torchrun with ``nproc`` ranks on this machine."""
    worker = ["-m", "anytune_local.worker", "train", "--home", str(store.home), "--job", job_id]
    worker += ["--request", str(request_path), "--result", str(result_path)]
    if nproc <= 1:
        return processes.python_argv(*worker)
    # torchrun starts each rank as `python -u -m ...`: PYTHONSAFEPATH (isolated_env) and the
    # job directory as working directory keep those off the user's directory too.
    launcher = processes.python_argv("-m", "torch.distributed.run", "--nnodes", "1")
    launcher += ["--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1"]
    launcher += ["--master_port", str(processes.free_port())]
    return [*launcher, *worker]


def read_outcome(result_path: Path, *, failed_rank: int | None = None) -> dict[str, Any] | None:
    """Rank 0's result if it succeeded; else the failure of ``failed_rank`` (the rank that
    made the run fail), rank 0's, or another rank's, in that order; None if none was written."""

    def read(path: Path) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data

    primary = read(result_path)
    if primary is not None and primary.get("ok"):
        return primary
    order = [result_path, *sorted(result_path.parent.glob("result-rank*.json"))]
    if failed_rank:
        order.insert(0, result_path.with_name(f"result-rank{failed_rank}.json"))
    for path in order:
        data = primary if path == result_path else read(path)
        if data is not None and not data.get("ok"):
            return data
    return None
