"""Where every ``together`` SDK error becomes an anytune error: ``translated()`` is the one
boundary. Messages are Together's own (with the API key scrubbed out) plus a next step.

The scrubbing (``anytune.secrets.scrub``) and Retry-After parsing
(``anytune.retry.parse_retry_after``) are the core's, shared with every provider.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from anytune import errors
from anytune.retry import parse_retry_after
from anytune.secrets import scrub

KEYS_URL = "https://api.together.ai/settings/api-keys"


@dataclass(frozen=True)
class ErrorContext:
    provider: str
    key_env: str
    secrets: tuple[str, ...]
    """``Provider.secret_values()``: never shown."""
    timeout: float | None = None

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


def server_message(body: Any, fallback: str) -> str:
    """Together answers ``{"error": {"message": ...}}`` (or, on some routes, ``{"message"}``)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def status_error(
    status: int, message: str, headers: Mapping[str, str] | None, ctx: ErrorContext
) -> errors.AnytuneError:
    """The anytune error for an HTTP error answer (also used by the plain-httpx calls)."""
    message = ctx.scrub(message)
    where = f" (HTTP {status})"
    p = ctx.provider
    if status == 401:
        return errors.AuthenticationError(
            f"{p} rejected the API key: {message}{where}",
            hint=f"set {ctx.key_env} to a valid key ({KEYS_URL}), or pass -P api_key=...",
            provider=p,
        )
    if status == 402:
        return errors.PermissionDeniedError(
            f"{message}{where}",
            hint="the account has no credit left for this job: add credit in Together's "
            "billing settings (the job's estimated price is in `anytune validate`)",
            provider=p,
        )
    if status == 429:
        return errors.RateLimitError(
            f"{p} rate limit: {message}{where}",
            retry_after=parse_retry_after(headers),
            provider=p,
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
            hint="check that the key's project may fine-tune (TOGETHER_PROJECT_ID)",
            provider=p,
        )
    if status == 404:
        return errors.NotFoundError(f"{message}{where}", provider=p)
    if status == 409:
        return errors.ConflictError(f"{message}{where}", provider=p)
    return errors.InvalidRequestError(
        f"{p} refused the request: {message}{where}",
        hint="the message above is Together's; fix that value and run the command again",
        provider=p,
    )


def translate(exc: BaseException, ctx: ErrorContext) -> errors.AnytuneError | None:
    """The anytune error for an SDK exception, or None if ``exc`` is not the SDK's."""
    import together

    if isinstance(exc, together.APIStatusError):
        message = server_message(getattr(exc, "body", None), str(exc.message or exc))
        headers = dict(exc.response.headers) if exc.response is not None else None
        return status_error(exc.status_code, message, headers, ctx)
    if isinstance(exc, together.APITimeoutError):
        after = f" after {ctx.timeout:g} s" if ctx.timeout else ""
        return errors.ProviderConnectionError(
            f"request to {ctx.provider} timed out{after}",
            hint="raise -P timeout=SECONDS if this keeps happening",
            provider=ctx.provider,
        )
    if isinstance(exc, together.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {ctx.scrub(str(cause))}" if cause else ""
        return errors.ProviderConnectionError(
            f"could not reach {ctx.provider}{detail}",
            hint="check the network and -P base_url (TOGETHER_BASE_URL)",
            provider=ctx.provider,
        )
    if isinstance(exc, together.TogetherError):
        return errors.ConfigurationError(ctx.scrub(str(exc)), provider=ctx.provider)
    return None


@contextmanager
def translated(ctx: ErrorContext) -> Iterator[None]:
    """Run SDK calls inside this block; SDK errors leave it as anytune errors."""
    try:
        yield
    except errors.AnytuneError:
        raise
    except Exception as exc:
        mapped = translate(exc, ctx)
        if mapped is None:
            raise
        exc.args = tuple(ctx.scrub(a) if isinstance(a, str) else a for a in exc.args)
        raise mapped from exc
