"""Where every openai SDK error becomes an anytune error: ``translated()`` is the one boundary.

Messages are the server's own (they name the line of an invalid file, the parameter, ...)
with the API key scrubbed out, plus a hint saying what to do next. The status mapping,
Retry-After and scrubbing are the core's ``anytune.http_errors`` (shared with every hosted
provider); OpenAI's error codes and hints are added here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from anytune import errors, http_errors

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

    @property
    def scrubber(self) -> http_errors.Scrubber:
        return http_errors.Scrubber((self.secret, *self.others))

    def scrub(self, text: str) -> str:
        return self.scrubber(text)


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


def _status_error(exc: Any, ctx: ErrorContext) -> errors.AnytuneError:
    """OpenAI reads more of the answer than the shared status rule: the error ``code``
    (training no longer available, quota), the request id and ``x-should-retry``."""
    status, message, headers = http_errors.status_parts(exc)
    code: str | None = getattr(exc, "code", None)
    request_id = getattr(exc, "request_id", None)
    if status == 403 and code == "training_not_available":
        where = f" (HTTP {status}{', request ' + request_id if request_id else ''})"
        return errors.TrainingNotAvailableError(
            f"{ctx.scrub(message)}{where}", hint=TRAINING_NOT_AVAILABLE_HINT, provider=ctx.provider
        )
    if status == 429 and code == "insufficient_quota":
        where = f" (HTTP {status}{', request ' + request_id if request_id else ''})"
        return errors.PermissionDeniedError(
            f"{ctx.scrub(message)}{where}",
            hint="the account is out of quota: check the plan and billing details",
            provider=ctx.provider,
        )
    param = getattr(exc, "param", None)
    hints = http_errors.StatusHints(
        auth=f"set {ctx.key_env} to a valid API key (or pass api_key=...)",
        forbidden="check that the key's project and organization may use fine-tuning "
        "(OPENAI_PROJECT_ID, OPENAI_ORG_ID)",
        invalid=f"parameter: {param}" if param else None,
    )
    return http_errors.from_http_status(
        status,
        message,
        provider=ctx.provider,
        headers=headers,
        hints=hints,
        scrubber=ctx.scrubber,
        request_id=request_id,
        retryable=(headers or {}).get("x-should-retry") == "true",
    )


def translate(exc: BaseException, ctx: ErrorContext) -> errors.AnytuneError | None:
    """The anytune error for an SDK exception, or None if ``exc`` is not from the SDK."""
    import openai

    sdk = http_errors.SdkErrors(
        openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError, openai.OpenAIError
    )
    return http_errors.from_sdk_error(
        exc,
        sdk,
        provider=ctx.provider,
        scrubber=ctx.scrubber,
        timeout=ctx.timeout,
        timeout_hint="raise the timeout option if this keeps happening",
        connection_hint="check the network and the base URL",
        status_error=lambda e: _status_error(e, ctx),
    )


@contextmanager
def translated(ctx: ErrorContext) -> Iterator[None]:
    """Run SDK calls inside this block; SDK errors leave it as anytune errors."""
    with http_errors.translated(lambda exc: translate(exc, ctx), ctx.scrub):
        yield
