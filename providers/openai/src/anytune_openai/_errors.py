"""Where every openai SDK error becomes an anytune error: ``translated()`` is the one boundary.

Messages are the server's own (they name the line of an invalid file, the parameter, ...)
with the API key scrubbed out, plus a hint saying what to do next.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from anytune import errors

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
        for secret in (self.secret, *self.others):
            text = scrub(text, secret)
        return text


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (and any long fragment of it) replaced by ``***``."""
    if secret and len(secret) >= 6:
        text = text.replace(secret, "***")
        # Servers echo keys partially masked ("sk-tes***3456"); a long enough run of the
        # real key's tail or head is still too much.
        for piece in (secret[:12], secret[-12:]):
            if len(piece) >= 10 and piece in text:
                text = text.replace(piece, "***")
    return text


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


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            if divisor != 1.0:
                continue
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


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


def may_have_committed(exc: BaseException) -> bool:
    """True when a request may have taken effect although no success response arrived."""
    return isinstance(exc, (errors.ProviderConnectionError, errors.ServiceUnavailableError))
