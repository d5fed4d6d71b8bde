"""``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from anytune.serve import chat, generation
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
        if not svc.delete_model(owner, model):
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
    if not parsed.stream:
        return await blocking(generation.complete, svc, owner, parsed)
    prepared = await blocking(generation.prepare, svc, owner, parsed)
    return await _stream(svc, prepared)


async def _stream(svc: Service, prepared: generation.Prepared) -> StreamingResponse:
    """Server-sent events in OpenAI's chunk format, each text delta as it is generated.

    The model runs in a thread of its own (``generation.produce``) that hands events to the
    event loop; the response starts once the first one is there, so a model that cannot load
    is still an HTTP error. A client that goes away stops generation."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[generation.Event] = asyncio.Queue()
    cancelled = threading.Event()

    def emit(event: generation.Event) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the event loop is gone (the server is stopping)
            cancelled.set()

    threading.Thread(
        target=generation.produce,
        args=(svc, prepared, emit, cancelled),
        name="anytune-serve-generate",
        daemon=True,
    ).start()
    try:
        first = await events.get()
    except BaseException:  # the client went away while the model loaded
        cancelled.set()
        raise
    if isinstance(first, generation.Failure):
        raise first.error
    return _EventStream(_sse(prepared, first, events), cancelled)


class _EventStream(StreamingResponse):
    """The stream, and when it ends in any way (sent, or the client gone, even before the
    first chunk) ``cancelled`` is set, which stops a generation still running."""

    def __init__(self, content: AsyncIterator[bytes], cancelled: threading.Event) -> None:
        super().__init__(content, media_type="text/event-stream")
        self.cancelled = cancelled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.cancelled.set()  # a no-op once the generation is done


async def _sse(
    prepared: generation.Prepared,
    first: generation.Event,
    events: asyncio.Queue[generation.Event],
) -> AsyncIterator[bytes]:
    request = prepared.request

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        body = chat.chunk_json(
            prepared.id,
            prepared.created,
            request.model,
            choices,
            include_usage=request.include_usage,
            usage=usage,
        )
        return f"data: {json.dumps(body)}\n\n".encode()

    started: set[int] = set()
    event = first
    while True:
        if isinstance(event, (generation.Delta, generation.Finish)):
            if event.index not in started:  # each choice opens with its role
                started.add(event.index)
                delta = {"role": "assistant", "content": "", "refusal": None}
                yield chunk([chat.delta_choice(event.index, delta)])
            if isinstance(event, generation.Delta):
                yield chunk([chat.delta_choice(event.index, {"content": event.text})])
            else:
                yield chunk([chat.delta_choice(event.index, {}, event.reason)])
        elif isinstance(event, generation.Done):
            if request.include_usage:
                yield chunk([], event.usage)
            yield b"data: [DONE]\n\n"
            return
        else:  # failed mid-stream: OpenAI's error event, which the SDK raises
            yield f"data: {json.dumps(event.error.body())}\n\n".encode()
            return
        event = await events.get()
