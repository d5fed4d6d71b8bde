"""Request plumbing shared by the routes: the caller's project, the service, the JSON body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from anytune.serve.auth import DEFAULT_PROJECT, KeyRing, bearer_token
from anytune.serve.errors import APIError, invalid
from anytune.serve.service import Service

T = TypeVar("T")


# The dependencies are ``async``: FastAPI would run plain functions in the thread pool, a
# thread hop per dependency per request for what takes microseconds.
async def service(request: Request) -> Service:
    return _service(request)


def _service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


async def project(request: Request) -> str:
    """The caller's project from ``Authorization: Bearer KEY``; 401 as OpenAI words it."""
    return caller(_service(request).config.keys, request.headers.get("authorization"))


def caller(keys: KeyRing, header: str | None) -> str:
    """The project of the ``Authorization`` header's key (``APIError`` 401 if none)."""
    if not keys.enabled:
        return DEFAULT_PROJECT
    token = bearer_token(header)
    if token is None:
        raise APIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    found = keys.project_for(token)
    if found is None:
        # Never echo the key, not even a prefix of it.
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
    return found


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)"
        ) from None


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in the thread pool: the event loop never waits on a provider or the disk."""
    return await run_in_threadpool(fn, *args, **kwargs)


Project = Annotated[str, Depends(project)]
"""The caller's project (a route parameter)."""
Svc = Annotated[Service, Depends(service)]
