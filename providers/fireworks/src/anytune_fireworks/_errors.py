"""Where every ``fireworks`` SDK error becomes an anytune error: ``translated()`` is the one
boundary. Messages are Fireworks' own, with the API key and the account id scrubbed out, plus a
next step. Fireworks' control plane answers errors as gRPC-gateway JSON
(``{"code": 5, "message": "...", "details": []}``); ``{"error": {"message"}}`` is read too.

The mapping itself (status -> error class, Retry-After, scrubbing, the SDK's exception
classes) is the core's ``anytune.http_errors``; what is Fireworks' here is its hints, its 412
(FAILED_PRECONDITION) and the plain httpx transfers to signed storage URLs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from anytune import errors, http_errors

KEYS_URL = "https://app.fireworks.ai/settings/users/api-keys"


def boundary(
    provider: str, key_env: str, secrets: tuple[str, ...], timeout: float | None
) -> http_errors.Boundary:
    """``secrets``: the API key and the account id, never shown."""
    return http_errors.hosted_boundary(
        provider,
        secrets,
        timeout,
        vendor="Fireworks",
        key_env=key_env,
        keys_url=KEYS_URL,
        base_url_env="FIREWORKS_BASE_URL",
        forbidden="check that FIREWORKS_ACCOUNT_ID is the account the key belongs to",
        # FAILED_PRECONDITION: the object's state does not allow this.
        extra={412: (errors.ConflictError, None)},
        # Account ids are short by nature: scrubbed from 3 characters on.
        secret_minimum=3,
    )


def translate(exc: BaseException, ctx: http_errors.Boundary) -> errors.AnytuneError | None:
    import fireworks

    return ctx.from_sdk(exc, http_errors.sdk_errors(fireworks, fireworks.FireworksError))


def http_error(exc: BaseException, ctx: http_errors.Boundary) -> errors.AnytuneError | None:
    """The same for the plain httpx transfers (signed URLs)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return ctx.from_status(response.status_code, response.text[:500], dict(response.headers))
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
def translated(ctx: http_errors.Boundary) -> Iterator[None]:
    """Run SDK and storage calls inside this block; their errors leave it as anytune errors."""
    with http_errors.translated(lambda exc: translate(exc, ctx) or http_error(exc, ctx), ctx.scrub):
        yield
