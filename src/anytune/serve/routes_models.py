"""``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from anytune.serve import chat
from anytune.serve.deps import Project, Svc, blocking, json_body
from anytune.serve.errors import APIError
from anytune.serve.jobs import known_job
from anytune.serve.service import Service
from anytune.serve.shapes import model_json, page

router = APIRouter(prefix="/v1")


def _models(svc: Service, owner: str) -> list[dict[str, Any]]:
    found = [model_json(name, 0, "system") for name in svc.config.models]
    for row in svc.state.list_jobs(owner):
        if row.model_deleted:
            continue
        job = known_job(svc, row)
        if job is not None and job.fine_tuned_model:
            found.append(model_json(row.model_name, int(job.finished_at or row.created_at), owner))
    return found


@router.get("/models")
async def list_models(owner: Project, svc: Svc) -> dict[str, Any]:
    return page(await blocking(_models, svc, owner), False)


@router.get("/models/{model:path}")
async def retrieve_model(model: str, owner: Project, svc: Svc) -> dict[str, Any]:
    _, created, owned_by = await blocking(svc.resolve_model, owner, model)
    return model_json(model, created, owned_by)


@router.delete("/models/{model:path}")
async def delete_model(model: str, owner: Project, svc: Svc) -> dict[str, Any]:
    def delete() -> None:
        svc.resolve_model(owner, model)  # 404 for what the project cannot see
        if not svc.state.delete_model(owner, model):
            raise APIError(
                403,
                f"You have insufficient permissions for this operation: {model} is not a "
                "fine-tuned model of this project.",
                param="model",
            )

    await blocking(delete)
    return {"id": model, "object": "model", "deleted": True}


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    request: Request, owner: Project, svc: Svc
) -> dict[str, Any] | StreamingResponse:
    parsed = chat.parse(await json_body(request))
    result = await blocking(chat.complete, svc, owner, parsed)
    if not parsed.stream:
        return chat.completion_json(result)

    async def events() -> AsyncIterator[bytes]:
        for item in chat.chunks(result, parsed.include_usage):
            yield f"data: {json.dumps(item)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
