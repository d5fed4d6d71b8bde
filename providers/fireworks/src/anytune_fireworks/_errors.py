"""Where every ``fireworks`` SDK error becomes an anytune error: ``translated()`` is the one
boundary. Messages are Fireworks' own, with the API key and the account id scrubbed out, plus a
next step. Fireworks' control plane answers errors as gRPC-gateway JSON
(``{"code": 5, "message": "...", "details": []}``); ``{"error": {"message"}}`` is read too.

(Scrubbing and Retry-After parsing are the core's: ``anytune.secrets.scrub`` and
``anytune.retry.parse_retry_after``.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from anytune import errors
from anytune.retry import parse_retry_after
from anytune.secrets import scrub

KEYS_URL = "https://app.fireworks.ai/settings/users/api-keys"


@dataclass(frozen=True)
class ErrorContext:
    provider: str
    key_env: str
    secrets: tuple[str, ...]
    """The API key and the account id: never shown."""
    timeout: float | None = None

    def scrub(self, text: str) -> str:
        # Account ids are short by nature: scrubbed from 3 characters on.
        return scrub(text, self.secrets, minimum=3)


def server_message(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def status_error(
    status: int, message: str, headers: Mapping[str, str] | None, ctx: ErrorContext
) -> errors.AnytuneError:
    message = ctx.scrub(message)
    where = f" (HTTP {status})"
    p = ctx.provider
    if status == 401:
        return errors.AuthenticationError(
            f"{p} rejected the API key: {message}{where}",
            hint=f"set {ctx.key_env} to a valid key ({KEYS_URL}), or pass -P api_key=...",
            provider=p,
        )
    if status == 429:
        return errors.RateLimitError(
            f"{p} rate limit: {message}{where}", retry_after=parse_retry_after(headers), provider=p
        )
    if status >= 500 or status == 408:
        return errors.ServiceUnavailableError(
            f"{p} server error: {message}{where}",
            retry_after=parse_retry_after(headers),
            provider=p,
        )
    if status == 403:
        return errors.PermissionDeniedError(
            f"{message}{where}",
            hint="check that FIREWORKS_ACCOUNT_ID is the account the key belongs to",
            provider=p,
        )
    if status == 404:
        return errors.NotFoundError(f"{message}{where}", provider=p)
    if status == 409:
        return errors.ConflictError(f"{message}{where}", provider=p)
    if status == 412:  # FAILED_PRECONDITION: the object's state does not allow this
        return errors.ConflictError(f"{message}{where}", provider=p)
    return errors.InvalidRequestError(
        f"{p} refused the request: {message}{where}",
        hint="the message above is Fireworks'; fix that value and run the command again",
        provider=p,
    )


def translate(exc: BaseException, ctx: ErrorContext) -> errors.AnytuneError | None:
    import fireworks

    if isinstance(exc, fireworks.APIStatusError):
        message = server_message(getattr(exc, "body", None), str(exc.message or exc))
        headers = dict(exc.response.headers) if exc.response is not None else None
        return status_error(exc.status_code, message, headers, ctx)
    if isinstance(exc, fireworks.APITimeoutError):
        after = f" after {ctx.timeout:g} s" if ctx.timeout else ""
        return errors.ProviderConnectionError(
            f"request to {ctx.provider} timed out{after}",
            hint="raise -P timeout=SECONDS if this keeps happening",
            provider=ctx.provider,
        )
    if isinstance(exc, fireworks.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {ctx.scrub(str(cause))}" if cause else ""
        return errors.ProviderConnectionError(
            f"could not reach {ctx.provider}{detail}",
            hint="check the network and -P base_url (FIREWORKS_BASE_URL)",
            provider=ctx.provider,
        )
    if isinstance(exc, fireworks.FireworksError):
        return errors.ConfigurationError(ctx.scrub(str(exc)), provider=ctx.provider)
    return None


def http_error(exc: BaseException, ctx: ErrorContext) -> errors.AnytuneError | None:
    """The same for the plain httpx transfers (signed URLs)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return status_error(
            exc.response.status_code, exc.response.text[:500], dict(exc.response.headers), ctx
        )
    if isinstance(exc, httpx.TimeoutException):
        return errors.ProviderConnectionError(
            f"transfer to {ctx.provider} storage timed out", provider=ctx.provider
        )
    if isinstance(exc, httpx.TransportError):
        return errors.ProviderConnectionError(
            f"could not reach {ctx.provider} storage: {ctx.scrub(str(exc))}",
            hint="check the network",
            provider=ctx.provider,
        )
    return None


@contextmanager
def translated(ctx: ErrorContext) -> Iterator[None]:
    try:
        yield
    except errors.AnytuneError:
        raise
    except Exception as exc:
        mapped = translate(exc, ctx) or http_error(exc, ctx)
        if mapped is None:
            raise
        exc.args = tuple(ctx.scrub(a) if isinstance(a, str) else a for a in exc.args)
        raise mapped from exc
