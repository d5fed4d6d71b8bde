"""Where every openai SDK error becomes an anytune error: ``translated()`` is the one boundary.

Messages are the server's own (they name the line of an invalid file, the parameter, ...)
with the API key scrubbed out, plus a hint saying what to do next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from anytune import errors
from anytune.retry import parse_retry_after
from anytune.secrets import scrub

TRAINING_NOT_AVAILABLE_HINT = (
    "OpenAI no longer lets this organisation create fine-tuning jobs (it is winding down "
    "self-serve fine-tuning). Existing jobs and fine-tuned models still work. The same file "
    "runs with --provider local (pip install anytune-local)."
)


@dataclass(frozen=True)
class ErrorContext:
    """What the translation needs to know about the caller."""

    provider: str
    key_env: str
    """The environment variable that holds the key, named in authentication hints."""
    secret: str | None
    """The API key, so that it can be scrubbed from anything shown."""
    timeout: float | None = None
    others: tuple[str, ...] = ()
    """More secrets to scrub: credentials given inside the base URL."""

    def scrub(self, text: str) -> str:
        return scrub(text, (self.secret, *self.others))


def split_url_secrets(url: str) -> tuple[str, tuple[str, ...]]:
    """``url`` as it may be stored and shown (``anytune.index.public_url``: no
    ``user:password@``, no secret-looking query parameters), and the secrets removed, to
    scrub them from messages.

    >>> split_url_secrets("http://me:s3cret-pw@proxy:8080/v1?api-key=k123456")
    ('http://proxy:8080/v1', ('me:s3cret-pw@', 's3cret-pw', 'k123456'))
    """
    from urllib.parse import parse_qsl, urlsplit

    from anytune.index import public_url

    public = public_url(url)
    if public == url:
        return url, ()
    try:
        parts, kept = urlsplit(url), urlsplit(public)
    except ValueError:
        return public, ()
    secrets: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        secrets += [userinfo + "@", userinfo.partition(":")[2]]
    remaining = set(parse_qsl(kept.query, keep_blank_values=True))
    query = parse_qsl(parts.query, keep_blank_values=True)
    secrets += [value for key, value in query if (key, value) not in remaining]
    return public, tuple(s for s in secrets if s)


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(getattr(exc, "message", None) or exc)


def _status_error(exc: Any, ctx: ErrorContext) -> errors.AnytuneError:
    status: int = exc.status_code
    code: str | None = getattr(exc, "code", None)
    message = ctx.scrub(_server_message(exc))
    request_id = getattr(exc, "request_id", None)
    where = f" (HTTP {status}{', request ' + request_id if request_id else ''})"
    p = ctx.provider
    headers = getattr(getattr(exc, "response", None), "headers", None)
    should_retry = (headers or {}).get("x-should-retry")

    if status == 401:
        return errors.AuthenticationError(
            f"{p} rejected the API key: {message}{where}",
            hint=f"set {ctx.key_env} to a valid API key (or pass api_key=...)",
            provider=p,
        )
    if status == 403 and code == "training_not_available":
        return errors.TrainingNotAvailableError(
            f"{message}{where}", hint=TRAINING_NOT_AVAILABLE_HINT, provider=p
        )
    if status == 429 and code == "insufficient_quota":
        return errors.PermissionDeniedError(
            f"{message}{where}",
            hint="the account is out of quota: check the plan and billing details",
            provider=p,
        )
    if status == 429 or (should_retry == "true" and status < 500):
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
            hint="check that the key's project and organization may use fine-tuning "
            "(OPENAI_PROJECT_ID, OPENAI_ORG_ID)",
            provider=p,
        )
    if status == 404:
        return errors.NotFoundError(f"{message}{where}", provider=p)
    if status == 409:
        return errors.ConflictError(f"{message}{where}", provider=p)
    param = getattr(exc, "param", None)
    return errors.InvalidRequestError(
        f"{p} refused the request: {message}{where}",
        hint=f"parameter: {param}" if param else None,
        provider=p,
    )


def translate(exc: BaseException, ctx: ErrorContext) -> errors.AnytuneError | None:
    """The anytune error for an SDK exception, or None if ``exc`` is not from the SDK."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, ctx)
    if isinstance(exc, openai.APITimeoutError):
        after = f" after {ctx.timeout:g} s" if ctx.timeout else ""
        return errors.ProviderConnectionError(
            f"request to {ctx.provider} timed out{after}",
            hint="raise the timeout option if this keeps happening",
            provider=ctx.provider,
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {ctx.scrub(str(cause))}" if cause else ""
        return errors.ProviderConnectionError(
            f"could not reach {ctx.provider}{detail}",
            hint="check the network and the base URL",
            provider=ctx.provider,
        )
    if isinstance(exc, openai.OpenAIError):
        return errors.ConfigurationError(ctx.scrub(str(exc)), provider=ctx.provider)
    return None


def _scrub_exception(exc: BaseException, ctx: ErrorContext) -> None:
    """Remove secrets from the SDK exception kept as ``__cause__`` (shown by --debug)."""
    exc.args = tuple(ctx.scrub(a) if isinstance(a, str) else a for a in exc.args)
    if isinstance(getattr(exc, "message", None), str):
        exc.message = ctx.scrub(exc.message)  # type: ignore[attr-defined]


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
        _scrub_exception(exc, ctx)
        raise mapped from exc
