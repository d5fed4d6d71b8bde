"""The fine-tuning jobs a project creates, reads and controls (blocking; run in threads)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from anytune.dataset.validate import validate_file
from anytune.errors import AnytuneError
from anytune.serve.errors import APIError, from_anytune, invalid
from anytune.serve.jobrequest import check_create
from anytune.serve.reads import job_body
from anytune.serve.service import Service
from anytune.serve.shapes import checkpoint_json, page
from anytune.serve.state import FileRow, JobRow
from anytune.types import Hyperparameters, JobSpec

MAX_PROBLEMS_SHOWN = 20
log = logging.getLogger("anytune.serve")


def _check_file(service: Service, row: FileRow, method: str, param: str) -> None:
    """``invalid_file_format`` with line numbers, as OpenAI reports a bad training file."""
    try:
        report = validate_file(
            service.state.blob(row.id), method=method, max_problems=MAX_PROBLEMS_SHOWN
        )
    except AnytuneError as exc:
        raise from_anytune(exc, param=param) from None
    if report.ok:
        return
    # Problems name lines, never the server's copy of the file.
    shown = "; ".join(
        f"line {p.line}: {p.message}" if p.line is not None else p.message for p in report.errors
    )
    more = report.error_count - len(report.errors)
    tail = f" (and {more} more)" if more > 0 else ""
    raise invalid(
        f"Invalid file format for {param} {row.id} ({row.filename}): {report.error_count} "
        f"problem(s): {shown}{tail}",
        param=param,
        code="invalid_file_format",
    )


def _input_file(service: Service, project: str, file_id: str | None, param: str) -> FileRow | None:
    if file_id is None:
        return None
    row = service.state.get_file(project, file_id)
    if row is None:
        raise invalid(
            f"invalid {param}: {file_id} (no such file)", param=param, code="invalid_file"
        )
    return row


def create(service: Service, project: str, body: Any) -> dict[str, Any]:
    request = check_create(body, service.provider.hyperparameter_limits)
    method = request["method"]
    training = _input_file(service, project, request["training_file"], "training_file")
    validation = _input_file(service, project, request["validation_file"], "validation_file")
    model = service.base_model(request["model"])
    assert training is not None
    _check_file(service, training, method, "training_file")
    if validation is not None:
        _check_file(service, validation, method, "validation_file")
    try:
        spec = JobSpec(
            model=model,
            training_file=training.provider_id,
            validation_file=validation.provider_id if validation else None,
            method=method,
            hyperparameters=Hyperparameters.from_dict(request["hyperparameters"]),
            suffix=request["suffix"],
            seed=request["seed"],
            metadata=request["metadata"],
            options=dict(service.config.job_options),
            integrations=tuple(request["integrations"]),
        )
    except ValueError as exc:
        raise invalid(str(exc), param="method") from None
    row = JobRow(
        id="",
        project=project,
        seq=0,
        created_at=0,
        model=request["model"],
        training_file=training.id,
        validation_file=validation.id if validation else None,
        request=request,
        model_name=service.model_name(request["model"], project, request["suffix"]),
        model_deleted=False,
        last_event=None,
    )
    token = secrets.token_hex(12)
    service.state.add_pending(token, row, model, training.provider_id)
    try:
        job = service.call(service.provider.create_job, spec)
    except BaseException:
        service.state.drop_pending(token)
        raise
    row = replace(row, id=job.id, created_at=int(job.created_at))
    if service.state.job_known(job.id):
        # Only a provider that lost its jobs gives an id again: the old record is stale.
        log.warning("the provider reused job id %s; forgetting the old job", job.id)
        service.state.forget_job(job.id)
        service.forget(job.id)
    service.state.add_job(row)
    service.state.drop_pending(token)
    service.remember(row, job)
    return view(service, row, job)


def view(service: Service, row: JobRow, job: Any) -> dict[str, Any]:
    return job_body(row, job, service.redact)


def recover_pending(service: Service) -> int:
    """Adopt jobs the provider created while the server died before recording them.

    Each create is noted before the provider is asked; a note still there at start-up is
    matched with the provider's recent jobs (same model and training file, created after the
    note, owned by nobody). Returns how many jobs were adopted.
    """
    adopted = 0
    pending = service.state.pending()
    if not pending:
        return 0
    try:
        recent = service.provider.list_jobs(limit=100)
    except AnytuneError as exc:
        log.warning("could not check %d interrupted job creation(s): %s", len(pending), exc)
        return 0
    for token, noted_at, row, model, training in pending:
        for job in sorted(recent, key=lambda j: j.created_at):
            if (
                job.model == model
                and job.training_file == training
                and job.created_at >= int(noted_at) - 1
                and not service.state.job_known(job.id)
            ):
                service.state.add_job(replace(row, id=job.id, created_at=int(job.created_at)))
                adopted += 1
                break
        service.state.drop_pending(token)
    return adopted


def retrieve(service: Service, project: str, job_id: str) -> dict[str, Any]:
    """The job as ``GET /v1/fine_tuning/jobs/{id}`` answers it (the route sends the bytes)."""
    parsed: dict[str, Any] = json.loads(service.reads.job_answer(project, job_id, b""))
    return parsed


def _matches(row: JobRow, wanted: Mapping[str, str] | None) -> bool:
    if not wanted:
        return True
    metadata = row.request.get("metadata") or {}
    return all(metadata.get(k) == v for k, v in wanted.items())


def list_jobs(
    service: Service,
    project: str,
    *,
    after: str | None,
    limit: int,
    metadata: Mapping[str, str] | None,
) -> dict[str, Any]:
    rows = service.state.list_jobs(project, after=after)
    rows = [r for r in rows if _matches(r, metadata)]
    data: list[dict[str, Any]] = []
    for row in rows:
        if len(data) == limit:
            return page(data, True)
        job = known_job(service, row)
        if job is not None:
            data.append(view(service, row, job))
    return page(data, False)


def known_job(service: Service, row: JobRow) -> Any:
    """The provider's job, or None when the provider no longer has it (an in-memory
    provider restarted, a store deleted): a list shows what exists rather than failing."""
    try:
        return service.job(row)
    except APIError as exc:
        if exc.status != 404:
            raise
        log.warning("job %s of project %s is gone from the provider", row.id, row.project)
        return None


def control(service: Service, project: str, job_id: str, action: str) -> dict[str, Any]:
    row = service.job_row(project, job_id)
    operation = {
        "cancel": service.provider.cancel_job,
        "pause": service.provider.pause_job,
        "resume": service.provider.resume_job,
    }[action]
    job = service.call(operation, row.id)
    service.remember(row, job)
    return view(service, row, job)


def events(
    service: Service, project: str, job_id: str, *, after: str | None, limit: int
) -> dict[str, Any]:
    """A page of events as ``GET .../{id}/events`` answers it (the route sends the bytes)."""
    query = urlencode({k: v for k, v in (("after", after), ("limit", limit)) if v is not None})
    answer = service.reads.events_answer(project, job_id, query.encode(), after=after, limit=limit)
    parsed: dict[str, Any] = json.loads(answer)
    return parsed


def checkpoints(
    service: Service, project: str, job_id: str, *, after: str | None, limit: int
) -> dict[str, Any]:
    row = service.job_row(project, job_id)
    found = service.call(service.provider.list_checkpoints, row.id)
    newest_first = sorted(found, key=lambda c: (c.step, c.created_at), reverse=True)
    if after is not None:
        ids = [c.id for c in newest_first]
        newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
    data = [checkpoint_json(row, c) for c in newest_first[:limit]]
    return page(data, len(newest_first) > limit, ids=True)
