"""The fake server's wire format: OpenAI's error body, a parsed request, cursor pages, and
what OpenAI refuses in a create-job body (limits from its OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Response = tuple[int, dict[str, Any]]

SSE = "__server_sent_events__"
"""A response payload ``{SSE: [event, ...]}`` is sent as ``text/event-stream``: one
``data: {json}`` line per event, then ``data: [DONE]`` (a streamed chat completion)."""


def events(items: list[dict[str, Any]]) -> Response:
    return 200, {SSE: items}


TRAINING_NOT_AVAILABLE = (
    "OpenAI is winding down the fine-tuning platform and your organization is no longer able "
    "to create new fine-tuning training jobs."
)


def error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> Response:
    kind = {
        401: "invalid_request_error",
        403: "invalid_request_error",
        404: "invalid_request_error",
        429: "requests",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class Request:
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    json: Any = None
    form: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)


def page(
    items: list[dict[str, Any]],
    query: Mapping[str, list[str]],
    default: int,
    *,
    max_limit: int = 100,
    repeat: bool = False,
) -> dict[str, Any]:
    """OpenAI's cursor pagination over ``items`` (already in API order).

    ``repeat``: behave like a broken server that ignores ``after`` and always says there is
    more (the first page, again and again).
    """
    limit = max(1, min(max_limit, int(query["limit"][0]) if query.get("limit") else default))
    after = query["after"][0] if query.get("after") and not repeat else None
    start = 0
    if after is not None:
        ids = [i["id"] for i in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return {
        "object": "list",
        "data": chunk,
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
        "has_more": bool(chunk) and (repeat or start + limit < len(items)),
    }


def create_refusal(body: Mapping[str, Any]) -> Response | None:
    """What OpenAI refuses in a create-job body (limits from its OpenAPI document)."""
    metadata = body.get("metadata") or {}
    if len(metadata) > 16:
        return error(400, "Invalid 'metadata': too many properties (max 16).", param="metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            return error(
                400,
                f"Invalid 'metadata.{key[:64]}': keys take up to 64 characters and values "
                "are strings of up to 512.",
                param="metadata",
            )
    suffix = body.get("suffix")
    if suffix is not None and not 1 <= len(suffix) <= 64:
        return error(400, "suffix must be 1 to 64 characters", param="suffix")
    seed = body.get("seed")
    if seed is not None and not (isinstance(seed, int) and 0 <= seed <= 2_147_483_647):
        return error(400, f"Invalid 'seed': {seed}. Expected 0 to 2147483647.", param="seed")
    method = _mapping(body.get("method"))
    kind = str(method.get("type", "supervised"))
    hp = _mapping(_mapping(method.get(kind)).get("hyperparameters"))
    for name, low, high, open_low in _RANGES:
        value = hp.get(name, "auto")
        if value == "auto" or (name == "beta" and kind != "dpo"):
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        above = number and (value > low if open_low else value >= low)
        if not (above and (high is None or value <= high)):
            return error(
                400, f"Invalid 'method.{kind}.hyperparameters.{name}': {value!r}.", param=name
            )
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


_RANGES: tuple[tuple[str, float, float | None, bool], ...] = (
    ("n_epochs", 1, 50, False),
    ("batch_size", 1, 256, False),
    ("learning_rate_multiplier", 0, None, True),
    ("beta", 0, 2, True),
)
"""(name, minimum, maximum, minimum excluded): FineTune*Hyperparameters in the document."""
