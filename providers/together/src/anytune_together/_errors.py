"""Where every ``together`` SDK error becomes an anytune error: ``translated()`` is the one
boundary. Messages are Together's own (with the API key scrubbed out) plus a next step.

The mapping itself (status -> error class, Retry-After, scrubbing, the SDK's exception
classes) is the core's ``anytune.http_errors``, shared with every hosted provider; what is
Together's here is its hints and its 402 (no credit left)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from anytune import errors, http_errors

KEYS_URL = "https://api.together.ai/settings/api-keys"
NO_CREDIT = (
    "the account has no credit left for this job: add credit in Together's billing settings "
    "(the job's estimated price is in `anytune validate`)"
)


def boundary(
    provider: str, key_env: str, secrets: tuple[str, ...], timeout: float | None
) -> http_errors.Boundary:
    """``secrets`` is ``Provider.secret_values()``: never shown."""
    return http_errors.hosted_boundary(
        provider,
        secrets,
        timeout,
        vendor="Together",
        key_env=key_env,
        keys_url=KEYS_URL,
        base_url_env="TOGETHER_BASE_URL",
        forbidden="check that the key's project may fine-tune (TOGETHER_PROJECT_ID)",
        extra={402: (errors.PermissionDeniedError, NO_CREDIT)},
    )


def translate(exc: BaseException, ctx: http_errors.Boundary) -> errors.AnytuneError | None:
    """The anytune error for an SDK exception, or None if ``exc`` is not the SDK's."""
    import together

    return ctx.from_sdk(exc, http_errors.sdk_errors(together, together.TogetherError))


@contextmanager
def translated(ctx: http_errors.Boundary) -> Iterator[None]:
    """Run SDK calls inside this block; SDK errors leave it as anytune errors."""
    with http_errors.translated(lambda exc: translate(exc, ctx), ctx.scrub):
        yield
