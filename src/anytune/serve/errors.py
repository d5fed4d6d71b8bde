"""Errors in OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a request can cause leaves the server as one of these, with the status code
OpenAI uses, so the ``openai`` SDK raises the same exception class it raises against OpenAI.
anytune errors from the provider are translated here, in one place.
"""

from __future__ import annotations

import logging
from typing import Any

from anytune import errors as anytune_errors

log = logging.getLogger("anytune.serve")


class APIError(Exception):
    """A request failed; rendered as OpenAI's error envelope with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 for a request that makes no sense."""
    return APIError(400, message, param=param, code=code)


def not_found(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(404, message, param=param, code=code)


def unknown_arguments(names: list[str]) -> APIError:
    # OpenAI's wording for a body field it does not know.
    return invalid(f"Unrecognized request argument supplied: {', '.join(sorted(names))}")


def from_anytune(exc: anytune_errors.AnytuneError, *, param: str | None = None) -> APIError:
    """The provider's anytune error as the HTTP error OpenAI would give for the same cause."""
    message = exc.message
    if exc.hint:
        message = f"{message} ({exc.hint})"
    if isinstance(exc, anytune_errors.DatasetError):
        shown = "; ".join(exc.problems[:20])
        text = f"{message}: {shown}" if shown else message
        return invalid(text, param=param or "training_file", code="invalid_file_format")
    if isinstance(exc, anytune_errors.NotFoundError):
        return not_found(message, param=param)
    if isinstance(exc, anytune_errors.AuthenticationError):
        # The *backend* refused the server's credentials: the server is misconfigured.
        log.error("the provider rejected the server's credentials: %s", message)
        return APIError(
            502,
            "the fine-tuning backend rejected this server's credentials; ask its operator",
            type="server_error",
        )
    if isinstance(exc, (anytune_errors.ConfigurationError, anytune_errors.InvalidRequestError)):
        return invalid(message, param=param)
    if isinstance(exc, anytune_errors.TrainingNotAvailableError):
        return APIError(403, message, type="invalid_request_error", code="training_not_available")
    if isinstance(exc, anytune_errors.PermissionDeniedError):
        return APIError(403, message, type="invalid_request_error")
    if isinstance(exc, (anytune_errors.ConflictError, anytune_errors.UnsupportedOperationError)):
        # 400, not 409: the SDK retries 409, and a wrong state does not heal by retrying.
        return invalid(message, param=param)
    if isinstance(exc, anytune_errors.RateLimitError):
        return APIError(429, message, type="requests", headers=_retry_after(exc))
    if isinstance(exc, anytune_errors.TransientError):
        return APIError(503, message, type="server_error", headers=_retry_after(exc))
    log.error("provider error: %s", message)
    return APIError(500, message, type="server_error")


def _retry_after(exc: anytune_errors.TransientError) -> dict[str, str]:
    if exc.retry_after is None:
        return {}
    return {"retry-after": str(max(1, round(exc.retry_after)))}


INTERNAL = "The server had an error while processing your request. Sorry about that!"
