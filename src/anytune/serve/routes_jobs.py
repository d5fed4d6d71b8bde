"""``/v1/fine_tuning/jobs``: create, list, retrieve, events, checkpoints, cancel/pause/resume."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from anytune.serve import jobs
from anytune.serve.deps import Project, Svc, blocking, json_body
from anytune.serve.jobrequest import metadata_filter, positive_limit

router = APIRouter(prefix="/v1/fine_tuning")


@router.post("/jobs")
async def create_job(request: Request, owner: Project, svc: Svc) -> dict[str, Any]:
    body = await json_body(request)
    return await blocking(jobs.create, svc, owner, body)


@router.get("/jobs")
async def list_jobs(request: Request, owner: Project, svc: Svc) -> dict[str, Any]:
    query = request.query_params
    limit = positive_limit(query.get("limit"), 20, 100)
    wanted = metadata_filter(query)
    return await blocking(
        jobs.list_jobs, svc, owner, after=query.get("after"), limit=limit, metadata=wanted
    )


# The two polled reads answer with bytes kept for their pollers (serve.reads); most polls
# are answered before FastAPI by app.FastReads from the same kept bytes.
@router.get("/jobs/{job_id}")
async def retrieve_job(job_id: str, request: Request, owner: Project, svc: Svc) -> Response:
    query: bytes = request.scope["query_string"]
    return _json(await blocking(svc.reads.job_answer, owner, job_id, query))


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, owner: Project, svc: Svc) -> dict[str, Any]:
    return await blocking(jobs.control, svc, owner, job_id, "cancel")


@router.post("/jobs/{job_id}/pause")
async def pause_job(job_id: str, owner: Project, svc: Svc) -> dict[str, Any]:
    return await blocking(jobs.control, svc, owner, job_id, "pause")


@router.post("/jobs/{job_id}/resume")
async def resume_job(job_id: str, owner: Project, svc: Svc) -> dict[str, Any]:
    return await blocking(jobs.control, svc, owner, job_id, "resume")


@router.get("/jobs/{job_id}/events")
async def list_events(job_id: str, request: Request, owner: Project, svc: Svc) -> Response:
    query = request.query_params
    limit = positive_limit(query.get("limit"), 20, 1000)
    raw: bytes = request.scope["query_string"]
    answer = await blocking(
        svc.reads.events_answer, owner, job_id, raw, after=query.get("after"), limit=limit
    )
    return _json(answer)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/jobs/{job_id}/checkpoints")
async def list_checkpoints(
    job_id: str, request: Request, owner: Project, svc: Svc
) -> dict[str, Any]:
    query = request.query_params
    limit = positive_limit(query.get("limit"), 10, 100)
    return await blocking(
        jobs.checkpoints, svc, owner, job_id, after=query.get("after"), limit=limit
    )
