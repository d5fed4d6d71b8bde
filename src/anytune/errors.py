"""The one error tree. Providers translate every vendor error into it where the error enters.

::

    AnytuneError                      every error anytune raises; .hint says what to do next
    ├── ConfigurationError            missing/invalid settings (no key, bad option, bad path)
    │   ├── InvalidArgumentError      a value the caller passed is invalid (hyperparameter,
    │   │                             option, method, provider setting); names the valid ones
    │   ├── AuthenticationError       the provider rejected the credentials (401)
    │   ├── ProviderNotFoundError     no provider by that name (lists the known ones)
    │   └── ProviderNotInstalledError known provider, distribution missing (gives pip command)
    ├── InvalidRequestError           the provider refused the request as malformed (400/422)
    │   └── DatasetError              a training/validation file is unusable
    ├── PermissionDeniedError         not allowed (403)
    │   └── TrainingNotAvailableError the provider no longer creates jobs for this account
    ├── NotFoundError                 no such file/job/checkpoint (404)
    ├── ConflictError                 the object is in the wrong state for this call (409)
    ├── UnsupportedOperationError     the provider does not offer this (e.g. pause)
    ├── TransientError                worth retrying: .retry_after seconds if known
    │   ├── RateLimitError            429
    │   ├── ServiceUnavailableError   5xx
    │   └── ProviderConnectionError   connection dropped / timed out
    ├── JobError                      wait() ended on a job that did not succeed; .job
    │   ├── JobFailedError            status failed; .job.error has code and message
    │   └── JobCancelledError         status cancelled
    ├── WaitTimeoutError              wait() reached its deadline; .job is the last seen state
    ├── WaitStoppedError              wait() stopped before the job ended (outage, error); .job
    └── StorageError                  anytune's own files (job index, a store) unusable; .path

The CLI maps these to exit codes: InvalidArgumentError → 2 (a usage mistake),
JobCancelledError → 3, WaitStoppedError → 75, WaitTimeoutError → 124, everything else → 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anytune.types import Job


class AnytuneError(Exception):
    """Base of every anytune error. ``hint`` tells the user what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, provider: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.provider = provider

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class ConfigurationError(AnytuneError):
    """Settings are missing or wrong: fix the configuration, retrying will not help."""


class InvalidArgumentError(ConfigurationError, ValueError):
    """A value the caller passed is invalid: an unknown or out-of-range hyperparameter, an
    unknown option, a method the provider does not offer, an unknown provider setting.

    The message names the valid choices. Also a ``ValueError``, so code that caught the
    ``ValueError`` these checks raised before keeps working.
    """

    exit_code = 2


class AuthenticationError(ConfigurationError):
    """The provider rejected the credentials."""


class ProviderNotFoundError(ConfigurationError):
    """No provider is registered under that name."""


class ProviderNotInstalledError(ConfigurationError):
    """The provider is known but its distribution is not installed."""


class InvalidRequestError(AnytuneError):
    """The provider refused the request as malformed."""


class DatasetError(InvalidRequestError):
    """A training or validation file cannot be used. ``problems`` lists ``file:line: what``."""

    def __init__(
        self,
        message: str,
        *,
        problems: list[str] | None = None,
        hint: str | None = None,
        provider: str | None = None,
    ):
        super().__init__(message, hint=hint, provider=provider)
        self.problems = problems or []


class PermissionDeniedError(AnytuneError):
    """The credentials are valid but not allowed to do this."""


class TrainingNotAvailableError(PermissionDeniedError):
    """The provider no longer lets this account create training jobs."""


class NotFoundError(AnytuneError):
    """No such file, job or checkpoint."""


class ConflictError(AnytuneError):
    """The object is in a state that does not allow this operation."""


class UnsupportedOperationError(AnytuneError):
    """The provider does not offer this operation."""


class TransientError(AnytuneError):
    """A failure that may go away when retried. ``retry_after`` is in seconds, if known."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, hint=hint, provider=provider)
        self.retry_after = retry_after


class RateLimitError(TransientError):
    """Too many requests."""


class ServiceUnavailableError(TransientError):
    """The provider had a server-side error."""


class ProviderConnectionError(TransientError):
    """The connection failed or timed out."""


class JobError(AnytuneError):
    """A waited-for job ended without succeeding."""

    def __init__(self, message: str, *, job: Job, hint: str | None = None):
        super().__init__(message, hint=hint, provider=job.provider)
        self.job = job


class JobFailedError(JobError):
    """The job failed; ``job.error`` says why."""


class JobCancelledError(JobError):
    """The job was cancelled."""

    exit_code = 3


class WaitTimeoutError(AnytuneError):
    """wait() reached its deadline before the job finished. The job keeps running."""

    exit_code = 124

    def __init__(self, message: str, *, job: Job | None, hint: str | None = None):
        super().__init__(message, hint=hint, provider=job.provider if job else None)
        self.job = job


class WaitStoppedError(AnytuneError):
    """wait() stopped before the job ended, for a reason other than its deadline: an outage
    longer than ``max_outage``, or an error while polling. The job keeps running."""

    exit_code = 75  # EX_TEMPFAIL: try again later

    def __init__(self, message: str, *, job: Job | None, hint: str | None = None):
        super().__init__(message, hint=hint, provider=job.provider if job else None)
        self.job = job


class StorageError(AnytuneError):
    """A file anytune keeps for itself (the job index, a provider's store) cannot be read or
    written: disk full, read-only, corrupt, or a path that is not a directory. ``path`` names
    it; the message says what to do."""

    def __init__(
        self, message: str, *, path: str, hint: str | None = None, provider: str | None = None
    ):
        super().__init__(message, hint=hint, provider=provider)
        self.path = path
