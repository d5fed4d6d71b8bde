"""The Ray dashboard's Job Submission REST API, over httpx (no Ray import on the client).

Routes (ray/dashboard/modules/job/job_head.py, Ray 2.60): ``POST /api/jobs/`` (submit),
``GET /api/jobs/{id}`` (info), ``GET /api/jobs/`` (all jobs), ``POST /api/jobs/{id}/stop``,
``GET /api/jobs/{id}/logs`` (the whole log: the API has no offset, which is why events come
from the job's events file in storage instead). Errors come back as plain text; a duplicate
``submission_id`` is an error (a 500 in Ray 2.60) whose text says "already exists".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from anytune.errors import (
    AnytuneError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    ProviderConnectionError,
    ServiceUnavailableError,
)
from anytune.retry import retry_transient

NAME = "ray"
RAY_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class SubmissionExists(AnytuneError):
    """A submission with that id is already on the cluster (a retried create)."""


class RayJobs:
    """A small client of the Job Submission API. ``headers`` (auth) are sent, never shown."""

    def __init__(
        self,
        address: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not address.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"Ray address {address!r} is not the dashboard's HTTP address",
                hint="set RAY_ADDRESS or -P address=http://HEAD:8265 (the Job Submission API, "
                "the dashboard port; not ray:// or the GCS port)",
                provider=NAME,
            )
        self.address = address.rstrip("/")
        self.attempts = attempts
        self._http = httpx.Client(
            base_url=self.address, headers=dict(headers or {}), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # -- routes ---------------------------------------------------------------------------
    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/jobs/`` once (no retry here: see ``ensure_submitted``)."""
        response = self._send("POST", "/api/jobs/", json=dict(body))
        if response.status_code >= 400 and "already exists" in response.text:
            raise SubmissionExists(f"submission {body.get('submission_id')} exists", provider=NAME)
        data: dict[str, Any] = self._json(response, "submit a job")
        return data

    def ensure_submitted(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Submit ``body`` (which carries its ``submission_id``) exactly once: a POST whose
        answer was lost is sent again, and the cluster's "already exists" means the first one
        arrived; either way the job's info is returned."""
        submission_id = str(body["submission_id"])

        def attempt() -> dict[str, Any]:
            try:
                return self.submit(body)
            except SubmissionExists:
                return self.info(submission_id)

        found: dict[str, Any] = retry_transient(attempt, attempts=self.attempts)
        return found

    def info(self, submission_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"/api/jobs/{submission_id}", f"read job {submission_id}")
        return data

    def list(self) -> list[dict[str, Any]]:
        data = self._get("/api/jobs/", "list jobs")
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def stop(self, submission_id: str) -> bool:
        def attempt() -> bool:
            response = self._send("POST", f"/api/jobs/{submission_id}/stop")
            return bool(self._json(response, f"stop job {submission_id}").get("stopped"))

        return retry_transient(attempt, attempts=self.attempts)

    def logs(self, submission_id: str) -> str:
        """The whole driver log (for a failure's cause, read once; never polled)."""
        data = self._get(f"/api/jobs/{submission_id}/logs", f"read the logs of {submission_id}")
        return str(data.get("logs") or "") if isinstance(data, dict) else ""

    # -- plumbing -------------------------------------------------------------------------
    def _get(self, path: str, what: str) -> Any:
        return retry_transient(
            lambda: self._json(self._send("GET", path), what), attempts=self.attempts
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ProviderConnectionError(
                f"cannot reach the Ray dashboard at {self.address}: {type(exc).__name__}",
                hint="is the cluster up? (ray status on the head; the dashboard port is 8265)",
                provider=NAME,
            ) from None

    def _json(self, response: httpx.Response, what: str) -> Any:
        status = response.status_code
        if status < 400:
            try:
                return response.json()
            except json.JSONDecodeError:
                raise ServiceUnavailableError(
                    f"the Ray dashboard answered {what} with something that is not JSON",
                    provider=NAME,
                ) from None
        text = _first_line(response.text)
        if status in (401, 403):
            raise AuthenticationError(
                f"the Ray dashboard refused to {what} ({status}): {text}",
                hint="set the cluster's auth headers: -P headers='{\"Authorization\": ...}' or "
                "RAY_JOB_HEADERS",
                provider=NAME,
            )
        if status == 404:
            raise NotFoundError(f"Ray has no such job ({what}): {text}", provider=NAME)
        if status >= 500:
            raise ServiceUnavailableError(
                f"the Ray dashboard failed to {what} ({status}): {text}", provider=NAME
            )
        raise InvalidRequestError(
            f"the Ray dashboard refused to {what} ({status}): {text}", provider=NAME
        )


def _first_line(text: str) -> str:
    """Ray answers errors with a traceback: its last line says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:500]
