"""The one rule that turns a vendor's HTTP error answer, or an exception from a vendor's
Stainless-generated SDK (``openai``, ``together``, ``fireworks-ai`` share the same exception
classes by shape), into anytune's error tree. Providers pass only what differs: their name,
the secrets to scrub, and their hints (where to get a key, which setting a 403 is about).

No SDK is imported here: a provider hands its SDK's exception classes over as ``SdkErrors``.

::

    401            AuthenticationError        "{provider} rejected the API key: ..."
    429            RateLimitError             retry_after from Retry-After / retry-after-ms
    408, 5xx       ServiceUnavailableError    retry_after likewise
    403            PermissionDeniedError
    404            NotFoundError
    409            ConflictError
    other          InvalidRequestError        "{provider} refused the request: ..."

``StatusHints.extra`` adds a vendor's own statuses (Together's 402, Fireworks' 412).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from anytune import errors
from anytune.retry import parse_retry_after
from anytune.secrets import MIN_LENGTH, scrub


@dataclass(frozen=True)
class Scrubber:
    """Removes the given secrets from text (``anytune.secrets.scrub``)."""

    secrets: tuple[str | None, ...] = ()
    minimum: int = MIN_LENGTH
    """Shorter secrets are left alone (an account id may be short by nature: pass 3)."""

    def __call__(self, text: str) -> str:
        return scrub(text, self.secrets, minimum=self.minimum)


@dataclass(frozen=True)
class StatusHints:
    """The per-provider next steps; None: no hint."""

    auth: str | None = None
    """For 401: which variable or option holds the key."""
    forbidden: str | None = None
    """For 403."""
    invalid: str | None = None
    """For any other 4xx (the request itself was refused)."""
    extra: Mapping[int, tuple[type[errors.AnytuneError], str | None]] = field(default_factory=dict)
    """A vendor's own statuses: status -> (error class, hint); message is the server's."""


def server_message(body: Any, fallback: str) -> str:
    """The message in an error body: ``{"error": {"message"}}``, ``{"error": "..."}`` or
    ``{"message"}`` (gRPC-gateway's ``{"code", "message"}`` too); else ``fallback``."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def from_http_status(
    status: int,
    message: str,
    *,
    provider: str,
    headers: Mapping[str, str] | None = None,
    hints: StatusHints | None = None,
    scrubber: Scrubber | None = None,
    request_id: str | None = None,
    retryable: bool = False,
) -> errors.AnytuneError:
    """The anytune error for an HTTP error answer; ``message`` is the server's (scrubbed here).

    ``retryable``: the server said a retry may help (OpenAI's ``x-should-retry: true``), so a
    4xx is a ``RateLimitError`` rather than a refusal."""
    hints = hints or StatusHints()
    message = (scrubber or Scrubber())(message)
    where = f" (HTTP {status}{', request ' + request_id if request_id else ''})"
    p = provider
    if status == 401:
        return errors.AuthenticationError(
            f"{p} rejected the API key: {message}{where}", hint=hints.auth, provider=p
        )
    if status in hints.extra:
        kind, hint = hints.extra[status]
        return kind(f"{message}{where}", hint=hint, provider=p)
    if status == 429 or (retryable and status < 500):
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
        return errors.PermissionDeniedError(f"{message}{where}", hint=hints.forbidden, provider=p)
    if status == 404:
        return errors.NotFoundError(f"{message}{where}", provider=p)
    if status == 409:
        return errors.ConflictError(f"{message}{where}", provider=p)
    return errors.InvalidRequestError(
        f"{p} refused the request: {message}{where}", hint=hints.invalid, provider=p
    )


@dataclass(frozen=True)
class SdkErrors:
    """A Stainless SDK's exception classes (e.g. ``openai.APIStatusError``, ...)."""

    status: type[BaseException]
    """Has ``status_code``, ``body``, ``message`` and ``response`` (with ``headers``)."""
    timeout: type[BaseException]
    """Checked before ``connection`` (the SDKs make it a subclass of it)."""
    connection: type[BaseException]
    base: type[BaseException]
    """Anything else the SDK raises (a missing key, a bad argument): a configuration error."""


def sdk_errors(module: Any, base: type[BaseException]) -> SdkErrors:
    """``SdkErrors`` from a Stainless SDK module (``openai``, ``together``, ``fireworks``)."""
    return SdkErrors(module.APIStatusError, module.APITimeoutError, module.APIConnectionError, base)


@dataclass(frozen=True)
class Boundary:
    """What a provider's error boundary knows: who it is, what to scrub, what to advise."""

    provider: str
    scrubber: Scrubber
    hints: StatusHints = field(default_factory=StatusHints)
    timeout: float | None = None
    timeout_hint: str | None = None
    connection_hint: str | None = None

    def scrub(self, text: str) -> str:
        return self.scrubber(text)

    def from_status(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> errors.AnytuneError:
        return from_http_status(
            status,
            message,
            provider=self.provider,
            headers=headers,
            hints=self.hints,
            scrubber=self.scrubber,
        )

    def from_sdk(
        self,
        exc: BaseException,
        sdk: SdkErrors,
        status_error: Callable[[Any], errors.AnytuneError] | None = None,
    ) -> errors.AnytuneError | None:
        return from_sdk_error(
            exc,
            sdk,
            provider=self.provider,
            scrubber=self.scrubber,
            hints=self.hints,
            timeout=self.timeout,
            timeout_hint=self.timeout_hint,
            connection_hint=self.connection_hint,
            status_error=status_error,
        )


def hosted_boundary(
    provider: str,
    secrets: tuple[str, ...],
    timeout: float | None,
    *,
    vendor: str,
    key_env: str,
    keys_url: str,
    base_url_env: str,
    forbidden: str,
    extra: Mapping[int, tuple[type[errors.AnytuneError], str | None]] | None = None,
    secret_minimum: int = MIN_LENGTH,
) -> Boundary:
    """The boundary of a hosted provider configured with ``-P`` settings: the hints name
    ``-P api_key`` / ``-P timeout`` / ``-P base_url`` and the vendor's environment variables,
    worded the same for every such provider."""
    return Boundary(
        provider,
        Scrubber(secrets, secret_minimum),
        StatusHints(
            auth=f"set {key_env} to a valid key ({keys_url}), or pass -P api_key=...",
            forbidden=forbidden,
            invalid=f"the message above is {vendor}'s; fix that value and run the command again",
            extra=dict(extra or {}),
        ),
        timeout,
        timeout_hint="raise -P timeout=SECONDS if this keeps happening",
        connection_hint=f"check the network and -P base_url ({base_url_env})",
    )


def status_parts(exc: Any) -> tuple[int, str, dict[str, str] | None]:
    """Status, server message and headers of an SDK status error."""
    message = server_message(getattr(exc, "body", None), str(getattr(exc, "message", None) or exc))
    response = getattr(exc, "response", None)
    headers = dict(response.headers) if response is not None else None
    return int(exc.status_code), message, headers


def from_sdk_error(
    exc: BaseException,
    sdk: SdkErrors,
    *,
    provider: str,
    scrubber: Scrubber,
    hints: StatusHints | None = None,
    timeout: float | None = None,
    timeout_hint: str | None = None,
    connection_hint: str | None = None,
    status_error: Callable[[Any], errors.AnytuneError] | None = None,
) -> errors.AnytuneError | None:
    """The anytune error for an SDK exception, or None if ``exc`` is not the SDK's.

    ``status_error`` replaces the plain status mapping (a provider that reads more of the
    answer, such as OpenAI's error ``code``)."""
    if isinstance(exc, sdk.status):
        if status_error is not None:
            return status_error(exc)
        status, message, headers = status_parts(exc)
        return from_http_status(
            status, message, provider=provider, headers=headers, hints=hints, scrubber=scrubber
        )
    if isinstance(exc, sdk.timeout):
        after = f" after {timeout:g} s" if timeout else ""
        return errors.ProviderConnectionError(
            f"request to {provider} timed out{after}", hint=timeout_hint, provider=provider
        )
    if isinstance(exc, sdk.connection):
        cause = exc.__cause__ or exc.__context__
        detail = f": {scrubber(str(cause))}" if cause else ""
        return errors.ProviderConnectionError(
            f"could not reach {provider}{detail}", hint=connection_hint, provider=provider
        )
    if isinstance(exc, sdk.base):
        return errors.ConfigurationError(scrubber(str(exc)), provider=provider)
    return None


def scrub_exception(exc: BaseException, scrubber: Callable[[str], str]) -> None:
    """Remove secrets from the vendor exception kept as ``__cause__`` (shown by --debug)."""
    exc.args = tuple(scrubber(a) if isinstance(a, str) else a for a in exc.args)
    if isinstance(getattr(exc, "message", None), str):
        exc.message = scrubber(exc.message)  # type: ignore[attr-defined]


@contextmanager
def translated(
    translate: Callable[[BaseException], errors.AnytuneError | None],
    scrubber: Callable[[str], str],
) -> Iterator[None]:
    """Run vendor calls inside this block; what ``translate`` knows leaves it as an anytune
    error (the scrubbed original as its cause); anything else passes through unchanged."""
    try:
        yield
    except errors.AnytuneError:
        raise
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        scrub_exception(exc, scrubber)
        raise mapped from exc


__all__ = [
    "Boundary",
    "Scrubber",
    "SdkErrors",
    "StatusHints",
    "from_http_status",
    "from_sdk_error",
    "hosted_boundary",
    "scrub_exception",
    "sdk_errors",
    "server_message",
    "status_parts",
    "translated",
]
