"""The data anytune passes around: files, jobs, events, checkpoints and what a job is asked to do.

Every provider returns these types (never SDK objects or raw dicts), so code written against
one backend works unchanged against another. All types are frozen dataclasses with
``to_dict()`` / ``from_dict()`` for JSON output and storage.

Timestamps are Unix seconds (``int``), as in OpenAI's API.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from anytune.errors import InvalidArgumentError

Auto = Literal["auto"]
AUTO: Auto = "auto"


class JobStatus(str, enum.Enum):
    """OpenAI's job lifecycle, shared by every provider.

    ``Job.status`` holds a member of this enum when the status is known, and the provider's
    own string otherwise, so a new status is shown rather than crashing anything. Members
    compare equal to their string values (``JobStatus.RUNNING == "running"``).
    """

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | JobStatus) -> JobStatus | str:
        """Return the enum member for ``value``, or ``value`` itself if anytune does not know it."""
        if isinstance(value, JobStatus):
            return value
        try:
            return cls(value)
        except ValueError:
            return value


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value}
)


def is_terminal(status: JobStatus | str) -> bool:
    """True for succeeded, failed and cancelled."""
    return str(status) in TERMINAL_STATUSES


_STATUS_PHRASES = {
    "validating_files": "is still validating its files",
    "queued": "is queued",
    "running": "is running",
    "paused": "is paused",
    "succeeded": "has already succeeded",
    "failed": "has failed",
    "cancelled": "was cancelled",
}


def status_phrase(status: JobStatus | str) -> str:
    """A job's state as the end of a sentence: "job X has already succeeded"."""
    return _STATUS_PHRASES.get(str(status), f"has status {status!s}")


def _check_kind(name: str, value: object, *, integer: bool) -> None:
    """The shape of a hyperparameter: a number (whole for ``integer``) or "auto".

    Ranges are the provider's (``Provider.hyperparameter_limits``), checked once when a spec
    is validated, so that a Job read back from a provider never fails on its own values.
    """
    if value == AUTO:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "a whole number" if integer else "a number"
        got = f"the string {value!r}" if isinstance(value, str) else repr(value)
        raise InvalidArgumentError(
            f"hyperparameter {name} must be {kind} or 'auto', got {got}",
            hint=f"e.g. {name}=3" if integer else f"e.g. {name}=0.5",
        )
    if integer and not float(value).is_integer():
        raise InvalidArgumentError(
            f"hyperparameter {name} must be a whole number or 'auto', got {value!r}"
        )


HYPERPARAMETER_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")


@dataclass(frozen=True)
class Hyperparameters:
    """Training hyperparameters with the same meaning on every provider.

    - ``n_epochs``: passes over the training file.
    - ``batch_size``: examples per optimizer step.
    - ``learning_rate_multiplier``: scales the provider's base learning rate.
    - ``beta``: DPO only; strength of the preference penalty.

    Each is a number or ``"auto"`` (the provider decides, by its documented rule). The record
    checks the kind of each value; the ranges are the provider's ``hyperparameter_limits``
    (OpenAI's by default: n_epochs 1-50, batch_size 1-256, learning_rate_multiplier > 0,
    beta in (0, 2]), checked when a job is validated.

    >>> Hyperparameters(n_epochs=3, batch_size="auto").n_epochs
    3
    """

    n_epochs: int | Auto = AUTO
    batch_size: int | Auto = AUTO
    learning_rate_multiplier: float | Auto = AUTO
    beta: float | Auto | None = None

    def __post_init__(self) -> None:
        _check_kind("n_epochs", self.n_epochs, integer=True)
        _check_kind("batch_size", self.batch_size, integer=True)
        _check_kind("learning_rate_multiplier", self.learning_rate_multiplier, integer=False)
        if self.beta is not None:
            _check_kind("beta", self.beta, integer=False)
        # Normalise 3.0 -> 3 for the integer fields so equality and JSON are stable.
        for name in ("n_epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, float):
                object.__setattr__(self, name, int(value))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.beta is None:
            del data["beta"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Hyperparameters:
        """From a mapping; an unknown name is an ``InvalidArgumentError`` naming the valid ones."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                f"hyperparameters must be a mapping or Hyperparameters, got {type(data).__name__}"
            )
        unknown = sorted(set(data) - set(HYPERPARAMETER_NAMES))
        if unknown:
            raise InvalidArgumentError(
                f"unknown hyperparameter(s) {', '.join(map(str, unknown))}",
                hint=f"valid hyperparameters: {', '.join(HYPERPARAMETER_NAMES)} "
                "(provider-specific settings go in options)",
            )
        return cls(**{k: v for k, v in data.items() if v is not None})


@dataclass(frozen=True)
class ResolvedHyperparameters:
    """The numbers a provider trains with once ``"auto"`` is decided (no ``"auto"`` left)."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.beta is None:
            del data["beta"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResolvedHyperparameters:
        return cls(**_known(cls, data))


Method = str
"""A training method: "supervised", "dpo", or any other the provider declares in
``Capabilities.methods``."""


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to create a fine-tuning job, independent of the provider.

    ``method`` is any method the provider declares (``Capabilities.methods``). ``options``
    holds provider-specific settings (LoRA rank, quantization, ...); each provider declares
    its own. Construction checks the kind of each field; ``Provider.validate_spec`` checks the
    rest (method, ranges, options) once and returns a ``ValidatedSpec``. ``hyperparameters``
    may be given as a mapping.
    """

    model: str
    training_file: str
    validation_file: str | None = None
    method: Method = "supervised"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    suffix: str | None = None
    seed: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    integrations: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name in ("model", "method"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")
        # A file id may still be "" while the file is not uploaded (validate_spec with
        # check_files=False); the provider's check_files refuses it.
        if not isinstance(self.training_file, str):
            raise InvalidArgumentError(
                f"training_file must be a file id (a string), got {self.training_file!r}"
            )
        if not isinstance(self.hyperparameters, Hyperparameters):
            hp: Any = self.hyperparameters
            object.__setattr__(self, "hyperparameters", Hyperparameters.from_dict(hp))
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise InvalidArgumentError(f"seed must be a whole number, got {self.seed!r}")
        if not isinstance(self.options, Mapping):
            raise InvalidArgumentError(f"options must be a mapping, got {self.options!r}")
        if not isinstance(self.metadata, Mapping):
            raise InvalidArgumentError(f"metadata must be a mapping, got {self.metadata!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "method": self.method,
            "hyperparameters": self.hyperparameters.to_dict(),
            "suffix": self.suffix,
            "seed": self.seed,
            "metadata": dict(self.metadata),
            "options": dict(self.options),
            "integrations": [dict(i) for i in self.integrations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        return cls(**_spec_fields(data))


def _spec_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "model": data["model"],
        "training_file": data["training_file"],
        "validation_file": data.get("validation_file"),
        "method": data.get("method", "supervised"),
        "hyperparameters": Hyperparameters.from_dict(data.get("hyperparameters")),
        "suffix": data.get("suffix"),
        "seed": data.get("seed"),
        "metadata": dict(data.get("metadata") or {}),
        "options": dict(data.get("options") or {}),
        "integrations": tuple(data.get("integrations") or ()),
    }


@dataclass(frozen=True)
class FileObject:
    """A training or validation file held by a provider."""

    id: str
    provider: str
    filename: str
    bytes: int | None
    """Size in bytes; None where the provider does not report it (Fireworks' datasets)."""
    created_at: int
    purpose: str = "fine-tune"
    status: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileObject:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class JobError:
    """Why a job failed: a short machine-readable code and a message for people."""

    code: str
    message: str
    param: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class Job:
    """A fine-tuning job as the provider last reported it."""

    id: str
    provider: str
    model: str
    status: JobStatus | str
    created_at: int
    training_file: str
    validation_file: str | None = None
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    method: str = "supervised"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    trained_tokens: int | None = None
    error: JobError | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    estimated_finish: int | None = None
    seed: int | None = None
    suffix: str | None = None
    metrics: Metrics | None = None
    """The latest training progress (step, loss, tokens/s) where the provider reports it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus.parse(self.status))

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.status)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        data["hyperparameters"] = self.hyperparameters.to_dict()
        data["metadata"] = dict(self.metadata)
        data["metrics"] = self.metrics.to_dict() if self.metrics is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        values = _known(cls, data)
        hp = values.get("hyperparameters")
        if not isinstance(hp, Hyperparameters):
            values["hyperparameters"] = Hyperparameters.from_dict(hp)
        err = values.get("error")
        if isinstance(err, Mapping):
            values["error"] = JobError(**_known(JobError, err))
        values["metadata"] = dict(values.get("metadata") or {})
        metrics = values.get("metrics")
        if isinstance(metrics, Mapping):
            values["metrics"] = Metrics.from_dict(metrics)
        return cls(**values)


@dataclass(frozen=True)
class Metrics:
    """Structured training metrics carried by an event, where the provider knows them."""

    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_second: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        if not self.extra:
            data.pop("extra", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        extra = dict(data.get("extra") or {})
        for key, value in data.items():
            if key not in known and key != "extra" and isinstance(value, (int, float)):
                extra[key] = float(value)
        return cls(**{k: data[k] for k in known if k in data}, extra=extra)


EventLevel = Literal["info", "warn", "error"]


@dataclass(frozen=True)
class Event:
    """One entry in a job's log: a message, and metrics when it reports training progress."""

    id: str
    created_at: int
    level: str
    message: str
    metrics: Metrics | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "created_at": self.created_at,
            "level": self.level,
            "message": self.message,
        }
        if self.metrics is not None:
            data["metrics"] = self.metrics.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        metrics = data.get("metrics")
        return cls(
            id=data["id"],
            created_at=data["created_at"],
            level=data.get("level", "info"),
            message=data.get("message", ""),
            metrics=Metrics.from_dict(metrics) if metrics else None,
        )


@dataclass(frozen=True)
class Checkpoint:
    """A saved intermediate model of a job."""

    id: str
    job_id: str
    step: int
    created_at: int
    fine_tuned_model_checkpoint: str
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["metrics"] = dict(self.metrics)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(**_known(cls, data))


def _known(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}
