"""The training context of a Fireworks base model, read from Fireworks' training-shape
registry: the source its docs' "Max supported context length" table is generated from ("the
largest max_supported_context_length across all training shapes registered for that base
model", https://docs.fireworks.ai/fine-tuning/managed-finetuning-intro).

``GET /v1/accounts/-/trainingShapes/-/versions`` with the filter
``snapshot.base_model="accounts/fireworks/models/M" AND latest_validated=true`` lists the
model's validated shapes (``trainingShapeVersions[].snapshot.maxSupportedContextLength``,
paged by ``pageToken`` / ``nextPageToken``), as Fireworks' own cookbook and training SDK read
them. It needs an API key but no account id. Without a key, or when the registry cannot be
read, the figure published in ``catalog`` applies where there is one; otherwise none is claimed
and Fireworks checks ``max_context_length`` when the job is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anytune import http_errors
from anytune.errors import AnytuneError, ProviderConnectionError
from anytune.retry import retry_transient
from anytune_fireworks import catalog

if TYPE_CHECKING:
    from anytune_fireworks.provider import FireworksProvider

ROUTE = "/v1/accounts/-/trainingShapes/-/versions"
PAGE_SIZE = 200
MAX_PAGES = 20
LOOKUP_TIMEOUT = 10.0
"""Seconds per request: ``validate`` must not hang on an unreachable registry."""
REGISTRY = "Fireworks' training-shape registry"


@dataclass(frozen=True)
class Context:
    tokens: int | None
    """The largest training context; None: not known."""
    source: str
    """Where ``tokens`` comes from, or why there is none (shown by ``validate``)."""


def shape_filter(model: str) -> str:
    return f'snapshot.base_model="{catalog.full_name(model)}" AND latest_validated=true'


def _versions(provider: FireworksProvider, model: str, key: str) -> list[dict[str, Any]]:
    import httpx

    timeout = min(provider.timeout or LOOKUP_TIMEOUT, LOOKUP_TIMEOUT)
    found: list[dict[str, Any]] = []
    token: str | None = None
    with httpx.Client(
        base_url=provider.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
    ) as http:
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"filter": shape_filter(model), "pageSize": PAGE_SIZE}
            if token:
                params["pageToken"] = token

            def fetch(params: dict[str, str | int] = params) -> dict[str, Any]:
                errors = provider._errors
                try:
                    response = http.get(ROUTE, params=params)
                except httpx.TransportError as exc:
                    raise ProviderConnectionError(
                        f"could not reach {provider.name} at {provider.base_url}: "
                        f"{errors.scrub(str(exc)) or type(exc).__name__}",
                        provider=provider.name,
                    ) from None
                try:
                    body: Any = response.json()
                except ValueError:
                    body = None
                if not response.is_success:
                    message = http_errors.server_message(body, response.text[:300])
                    raise errors.from_status(response.status_code, message, dict(response.headers))
                return body if isinstance(body, dict) else {}

            body = retry_transient(fetch, attempts=2)
            found.extend(body.get("trainingShapeVersions") or [])
            token = body.get("nextPageToken") or None
            if not token:
                break
    return found


def max_context(versions: list[dict[str, Any]]) -> int | None:
    lengths = [
        int(length)
        for version in versions
        if isinstance(version, dict)
        for length in [(version.get("snapshot") or {}).get("maxSupportedContextLength")]
        if isinstance(length, (int, str)) and str(length).isdigit() and int(length) > 0
    ]
    return max(lengths) if lengths else None


def published(model: str, reason: str | None = None) -> Context:
    """The figure ``catalog`` holds, with ``reason`` saying why the registry was not read."""
    info = catalog.lookup(model)
    prefix = f"{reason}; " if reason else ""
    if info is not None and info.max_context is not None:
        return Context(
            info.max_context,
            f"{prefix}training context {info.max_context:,} tokens as published in "
            f"{catalog.CONTEXT_SOURCE} (read {catalog.AS_OF})",
        )
    return Context(
        None,
        f"{prefix}no per-example token limit checked: {model}'s training context is not in "
        f"anytune's published table (Fireworks checks -o max_length when the job is created)",
    )


def lookup(provider: FireworksProvider, model: str, key: str | None) -> Context:
    """The model's training context: from the registry when a key is set, else published."""
    if not key:
        return published(
            model, f"set {provider.key_env} to read {model}'s training context from {REGISTRY}"
        )
    try:
        versions = _versions(provider, model, key)
    except AnytuneError as exc:
        return published(model, f"could not read {REGISTRY}: {exc.message}")
    tokens = max_context(versions)
    if tokens is None:
        return Context(
            None,
            f"{REGISTRY} lists no validated training shape for {catalog.full_name(model)}: "
            "Fireworks cannot fine-tune it as named (check the name in the model library, "
            "https://app.fireworks.ai/models?filter=LLM&tunable=true)",
        )
    return Context(
        tokens,
        f"training context {tokens:,} tokens from {REGISTRY} "
        f"(the largest of {len(versions)} validated shape(s))",
    )
