"""anytune.http_errors: the one HTTP status / SDK exception rule the hosted providers share."""

from __future__ import annotations

from typing import Any

import pytest

from anytune import errors
from anytune.http_errors import (
    Scrubber,
    SdkErrors,
    StatusHints,
    from_http_status,
    from_sdk_error,
    server_message,
    translated,
)

SECRET = "sk-test-0123456789abcdef"
HINTS = StatusHints(
    auth="set KEY_ENV",
    forbidden="check the project",
    invalid="fix that value",
    extra={402: (errors.PermissionDeniedError, "add credit"), 412: (errors.ConflictError, None)},
)


@pytest.mark.parametrize(
    ("status", "kind", "hint"),
    [
        (400, errors.InvalidRequestError, "fix that value"),
        (401, errors.AuthenticationError, "set KEY_ENV"),
        (402, errors.PermissionDeniedError, "add credit"),
        (403, errors.PermissionDeniedError, "check the project"),
        (404, errors.NotFoundError, None),
        (408, errors.ServiceUnavailableError, None),
        (409, errors.ConflictError, None),
        (412, errors.ConflictError, None),
        (422, errors.InvalidRequestError, "fix that value"),
        (429, errors.RateLimitError, None),
        (500, errors.ServiceUnavailableError, None),
        (503, errors.ServiceUnavailableError, None),
    ],
)
def test_each_status_class_maps_to_its_error(
    status: int, kind: type[errors.AnytuneError], hint: str | None
) -> None:
    error = from_http_status(status, "the server's words", provider="acme", hints=HINTS)
    assert type(error) is kind
    assert error.hint == hint and error.provider == "acme"
    assert "the server's words" in error.message and f"(HTTP {status})" in error.message


def test_unknown_extra_statuses_are_plain_refusals_without_hints() -> None:
    error = from_http_status(402, "pay", provider="acme")
    assert type(error) is errors.InvalidRequestError and error.hint is None
    assert error.message == "acme refused the request: pay (HTTP 402)"


def test_retry_after_is_parsed_by_the_core_parser() -> None:
    seconds = from_http_status(429, "slow down", provider="p", headers={"Retry-After": "7"})
    millis = from_http_status(503, "busy", provider="p", headers={"retry-after-ms": "1500"})
    none = from_http_status(500, "oops", provider="p")
    assert isinstance(seconds, errors.TransientError) and seconds.retry_after == 7.0
    assert isinstance(millis, errors.TransientError) and millis.retry_after == 1.5
    assert isinstance(none, errors.TransientError) and none.retry_after is None


def test_retryable_4xx_is_a_rate_limit_and_request_id_is_named() -> None:
    error = from_http_status(409, "try again", provider="p", retryable=True, request_id="req_1")
    assert isinstance(error, errors.RateLimitError)
    assert error.message == "p rate limit: try again (HTTP 409, request req_1)"


def test_secrets_are_scrubbed_whole_and_in_fragments() -> None:
    scrubber = Scrubber((SECRET, None, "acct"), minimum=3)
    message = f"bad key {SECRET} for account acct; tail {SECRET[-12:]}"
    error = from_http_status(401, message, provider="p", scrubber=scrubber)
    assert SECRET not in str(error) and SECRET[-12:] not in str(error)
    assert "acct" not in str(error) and "***" in str(error)
    # The default minimum leaves short values alone (they would match ordinary words).
    assert Scrubber(("acct",))("acct") == "acct"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "nested"}}, "nested"),
        ({"error": "flat"}, "flat"),
        ({"code": 5, "message": "grpc", "details": []}, "grpc"),
        ({"error": {"code": "x"}}, "fallback"),
        ("not json", "fallback"),
        (None, "fallback"),
    ],
)
def test_server_message_reads_every_vendor_shape(body: Any, expected: str) -> None:
    assert server_message(body, "fallback") == expected


class _Base(Exception):
    pass


class _Connection(_Base):
    pass


class _Timeout(_Connection):
    pass


class _Status(_Base):
    def __init__(self, status_code: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__(f"Error code: {status_code} {body}")
        self.status_code = status_code
        self.body = body
        self.message = f"Error code: {status_code}"
        self.response = type("Response", (), {"headers": headers})()


SDK = SdkErrors(_Status, _Timeout, _Connection, _Base)


def _translate(exc: BaseException) -> errors.AnytuneError | None:
    return from_sdk_error(
        exc,
        SDK,
        provider="acme",
        scrubber=Scrubber((SECRET,)),
        hints=HINTS,
        timeout=2.5,
        timeout_hint="raise the timeout",
        connection_hint="check the network",
    )


def test_sdk_exceptions_map_by_class() -> None:
    limited = _translate(_Status(429, {"error": {"message": "slow"}}, {"retry-after": "3"}))
    assert isinstance(limited, errors.RateLimitError) and limited.retry_after == 3.0
    assert limited.message == "acme rate limit: slow (HTTP 429)"
    timeout = _translate(_Timeout("read timed out"))
    assert isinstance(timeout, errors.ProviderConnectionError)
    assert timeout.message == "request to acme timed out after 2.5 s"
    assert timeout.hint == "raise the timeout"
    try:
        raise _Connection("boom") from OSError(f"refused, key {SECRET}")
    except _Connection as exc:
        dropped = _translate(exc)
    assert isinstance(dropped, errors.ProviderConnectionError)
    assert dropped.hint == "check the network" and SECRET not in dropped.message
    assert type(_translate(_Base(f"no key {SECRET}"))) is errors.ConfigurationError
    assert _translate(ValueError("not the SDK's")) is None


def test_translated_raises_anytune_errors_from_scrubbed_causes() -> None:
    scrubber = Scrubber((SECRET,))
    with pytest.raises(errors.AuthenticationError) as caught, translated(_translate, scrubber):
        raise _Status(401, {"error": {"message": f"key {SECRET} is wrong"}}, {})
    cause = caught.value.__cause__
    assert isinstance(cause, _Status)
    assert SECRET not in str(cause.args) and SECRET not in cause.message
    assert SECRET not in str(caught.value)
    # Not the vendor's: passes through untouched.
    with pytest.raises(KeyError), translated(_translate, scrubber):
        raise KeyError("x")


def test_hosted_boundary_words_the_hints_and_scrubs_short_ids() -> None:
    from anytune.http_errors import hosted_boundary

    ctx = hosted_boundary(
        "acme",
        (SECRET, "ac1"),
        4.0,
        vendor="Acme",
        key_env="ACME_API_KEY",
        keys_url="https://acme.example/keys",
        base_url_env="ACME_BASE_URL",
        forbidden="check ACME_ACCOUNT_ID",
        secret_minimum=3,
    )
    auth = ctx.from_status(401, f"key {SECRET} of ac1 is wrong")
    assert (
        auth.hint
        == "set ACME_API_KEY to a valid key (https://acme.example/keys), or pass -P api_key=..."
    )
    assert SECRET not in auth.message and "ac1" not in auth.message
    refused = ctx.from_status(400, "bad value")
    assert refused.hint is not None and refused.hint.startswith("the message above is Acme's")
    assert ctx.connection_hint == "check the network and -P base_url (ACME_BASE_URL)"
