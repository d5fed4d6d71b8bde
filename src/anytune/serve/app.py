"""The ASGI application: routers, OpenAI-shaped errors, request-body limits."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anytune.provider import Provider
from anytune.serve import reads
from anytune.serve.deps import caller
from anytune.serve.errors import INTERNAL, APIError
from anytune.serve.service import ServeConfig, Service

log = logging.getLogger("anytune.serve")
_UPLOAD_ROUTES = ("/v1/files", "/v1/uploads/")
_POLLED = re.compile(r"^/v1/fine_tuning/jobs/([^/]+)(/events)?$")
_JSON = b"application/json"


class BodyLimit:
    """Refuse bodies over the limit (413) before they are read, and while they stream."""

    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    def _limit(self, path: str) -> int:
        if path == "/v1/files" or (path.startswith("/v1/uploads/") and path.endswith("/parts")):
            # Room for the multipart framing around the file.
            return self.upload_limit + 64 * 1024
        return self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_error(send, _too_large(limit))
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except APIError as exc:  # raised while reading a body sent without its length
            if not started:
                await _send_error(send, exc)


class FastReads:
    """Answers a poll of a job or its events with the bytes ``serve.reads`` kept for it,
    straight from the event loop; every other request, and any poll without a current kept
    answer for the caller's project and query, goes on to FastAPI unchanged.

    Polls are most of a server's traffic while jobs train, and FastAPI's routing,
    dependencies, thread hop and serializer cost ~10x the answer itself; on a small machine
    that CPU is taken from the training."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    def _kept(self, scope: Scope) -> bytes | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        match = _POLLED.match(scope["path"])
        if match is None:
            return None
        raw = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        header = raw.decode("latin-1") if raw is not None else None  # as Starlette decodes
        try:
            project = caller(self.service.config.keys, header)
        except APIError:
            return None  # FastAPI says why
        route = reads.EVENTS if match.group(2) else reads.JOB
        return self.service.reads.kept(project, match.group(1), route, scope["query_string"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._kept(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        # The headers Starlette's Response gives the same bytes.
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> APIError:
    return APIError(
        413, f"The request body is too large: this server accepts at most {limit} bytes."
    )


async def _send_error(send: Send, error: APIError) -> None:
    response = JSONResponse(error.body(), status_code=error.status)
    await send(
        {"type": "http.response.start", "status": error.status, "headers": response.raw_headers}
    )
    await send({"type": "http.response.body", "body": response.body})


def _respond(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _log_like_uvicorn() -> None:
    """The server's own log lines where uvicorn writes its own, at its level (uvicorn sets up
    only its loggers, so anytune's INFO lines would otherwise be lost)."""
    server = logging.getLogger("uvicorn")
    if log.handlers or not server.handlers:
        return
    for handler in server.handlers:
        log.addHandler(handler)
    log.setLevel(logging.getLogger("uvicorn.error").getEffectiveLevel())
    log.propagate = False


def create_app(config: ServeConfig, provider: Provider) -> FastAPI:
    """The server for ``provider``; state in ``config.data_dir``."""
    from anytune.serve import jobs, routes_files, routes_jobs, routes_models

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _log_like_uvicorn()
        yield
        provider.close()

    app = FastAPI(
        title="anytune serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.service = Service(config, provider)
    adopted = jobs.recover_pending(app.state.service)
    if adopted:
        log.warning("adopted %d job(s) created just before the server last stopped", adopted)
    app.include_router(routes_files.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_models.router)

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return _respond(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif exc.status_code == 405:
            message = f"Method not allowed ({request.method} {request.url.path})"
        else:
            message = str(exc.detail)
        return _respond(APIError(exc.status_code, message))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return _respond(
            APIError(400, f"Invalid '{where}': {first.get('msg', 'invalid')}", param=where or None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged here with its traceback; the client gets OpenAI's generic 500, never ours.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _respond(APIError(500, INTERNAL, type="server_error"))

    return app


def wrap(app: FastAPI, config: ServeConfig) -> ASGIApp:
    """``app`` behind the body limits, polls answered first from what is kept for them."""
    fast = FastReads(app, app.state.service)
    return BodyLimit(fast, json_limit=config.max_body_bytes, upload_limit=config.max_upload_bytes)
