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


def _check_number(
    name: str,
    value: object,
    *,
    integer: bool,
    minimum: float,
    maximum: float | None,
    open_min: bool,
) -> None:
    if value == AUTO:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number or 'auto', got {value!r}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ValueError(f"{name} must be a whole number or 'auto', got {value!r}")
    too_low = value <= minimum if open_min else value < minimum
    if too_low or (maximum is not None and value > maximum):
        low = f"> {minimum:g}" if open_min else f">= {minimum:g}"
        high = f" and <= {maximum:g}" if maximum is not None else ""
        raise ValueError(f"{name} must be {low}{high} (or 'auto'), got {value!r}")


@dataclass(frozen=True)
class Hyperparameters:
    """Training hyperparameters with the same meaning on every provider.

    - ``n_epochs``: passes over the training file (1-50).
    - ``batch_size``: examples per optimizer step (1-256).
    - ``learning_rate_multiplier``: scales the provider's base learning rate (> 0).
    - ``beta``: DPO only; strength of the preference penalty, in (0, 2].

    Each is a number or ``"auto"`` (the provider decides, by its documented rule).

    >>> Hyperparameters(n_epochs=3, batch_size="auto").n_epochs
    3
    """

    n_epochs: int | Auto = AUTO
    batch_size: int | Auto = AUTO
    learning_rate_multiplier: float | Auto = AUTO
    beta: float | Auto | None = None

    def __post_init__(self) -> None:
        _check_number(
            "n_epochs", self.n_epochs, integer=True, minimum=1, maximum=50, open_min=False
        )
        _check_number(
            "batch_size", self.batch_size, integer=True, minimum=1, maximum=256, open_min=False
        )
        _check_number(
            "learning_rate_multiplier",
            self.learning_rate_multiplier,
            integer=False,
            minimum=0,
            maximum=None,
            open_min=True,
        )
        if self.beta is not None:
            _check_number("beta", self.beta, integer=False, minimum=0, maximum=2, open_min=True)
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
        if not data:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {', '.join(unknown)}; valid ones are "
                f"{', '.join(sorted(known))} (provider-specific settings go in options)"
            )
        return cls(**{k: v for k, v in data.items() if v is not None})


Method = Literal["supervised", "dpo"]


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to create a fine-tuning job, independent of the provider.

    ``options`` holds provider-specific settings (LoRA rank, quantization, ...); each
    provider declares and validates its own, and an unknown one is an error naming the valid
    ones.
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
        if self.method not in ("supervised", "dpo"):
            raise ValueError(f"method must be 'supervised' or 'dpo', got {self.method!r}")
        if self.method != "dpo" and self.hyperparameters.beta is not None:
            raise ValueError("beta is a DPO hyperparameter; use method='dpo' or drop beta")

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
        return cls(
            model=data["model"],
            training_file=data["training_file"],
            validation_file=data.get("validation_file"),
            method=data.get("method", "supervised"),
            hyperparameters=Hyperparameters.from_dict(data.get("hyperparameters")),
            suffix=data.get("suffix"),
            seed=data.get("seed"),
            metadata=dict(data.get("metadata") or {}),
            options=dict(data.get("options") or {}),
            integrations=tuple(data.get("integrations") or ()),
        )


@dataclass(frozen=True)
class FileObject:
    """A training or validation file held by a provider."""

    id: str
    provider: str
    filename: str
    bytes: int
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
