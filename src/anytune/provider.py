"""The provider contract: what every fine-tuning backend implements.

A provider is a class with a ``name``, declared ``capabilities``, declared ``option_specs``
(the provider-specific settings a job may carry in ``JobSpec.options``) and the operations
below. It returns anytune types only and raises only anytune errors (see ``anytune.errors``).

Third-party providers register a subclass in the ``anytune.providers`` entry-point group::

    [project.entry-points."anytune.providers"]
    myprovider = "my_package.provider:MyProvider"

and run ``anytune.testing.conformance`` against themselves.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from anytune.errors import ConfigurationError, UnsupportedOperationError
from anytune.types import Checkpoint, Event, FileObject, Job, JobSpec

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` while a file uploads."""


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do beyond the operations every provider has."""

    pause_resume: bool = False
    """``pause_job`` / ``resume_job`` work."""
    checkpoints: bool = True
    methods: frozenset[str] = frozenset({"supervised"})
    """Training methods accepted in ``JobSpec.method``."""
    render: bool = False
    """``render_example`` shows which tokens are trained."""
    generate: bool = False
    """``generate`` runs a fine-tuned model."""


@dataclass(frozen=True)
class OptionSpec:
    """One provider-specific option a job may set in ``JobSpec.options``."""

    type: type
    """bool, int, float, str, or list (a list of strings)."""
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def coerce(self, name: str, value: Any) -> Any:
        """Return ``value`` as this option's type, parsing strings from the command line."""
        try:
            if self.type is bool:
                if isinstance(value, str):
                    lowered = value.strip().lower()
                    if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(value)
                    value = lowered in {"true", "1", "yes"}
                elif not isinstance(value, bool):
                    raise ValueError(value)
            elif self.type is int:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError(value)
                value = int(value)
            elif self.type is float:
                if isinstance(value, bool):
                    raise ValueError(value)
                value = float(value)
            elif self.type is list:
                if isinstance(value, str):
                    value = [part.strip() for part in value.split(",") if part.strip()]
                elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                    value = list(value)
                else:
                    raise ValueError(value)
            elif self.type is str and not isinstance(value, str):
                raise ValueError(value)
        except (TypeError, ValueError):
            kind = {list: "comma-separated list", bool: "true/false"}.get(
                self.type, self.type.__name__
            )
            raise ConfigurationError(
                f"option {name}={value!r} is not a valid {kind}",
                hint=f"{name}: {self.help}" if self.help else None,
            ) from None
        if self.choices is not None and value not in self.choices:
            raise ConfigurationError(
                f"option {name}={value!r} is not one of {', '.join(map(str, self.choices))}"
            )
        return value


def validate_options(
    provider: str, specs: Mapping[str, OptionSpec], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``options`` against ``specs``: unknown names and bad values are errors.

    Returns the options coerced to their types (defaults are not filled in).
    """
    unknown = sorted(set(options) - set(specs))
    if unknown:
        valid = ", ".join(sorted(specs)) or "none"
        raise ConfigurationError(
            f"unknown option(s) for provider {provider!r}: {', '.join(unknown)}",
            hint=f"valid options for {provider}: {valid}",
            provider=provider,
        )
    return {name: specs[name].coerce(name, value) for name, value in options.items()}


class TokenCounter(abc.ABC):
    """Counts the tokens of one chat example as the provider would."""

    exact: bool = False
    """False when the count is an estimate (say so wherever it is shown)."""
    description: str = ""
    """What counts, e.g. "o200k_base (tiktoken)" or "estimate: UTF-8 bytes / 4"."""

    @abc.abstractmethod
    def count(self, example: Mapping[str, Any]) -> int:
        """Tokens in one training line (an already-parsed JSON object)."""


@dataclass(frozen=True)
class Price:
    """Training price for one model, per million trained tokens."""

    usd_per_million_tokens: float
    as_of: str
    """Date the price was read, e.g. "2026-11-01"."""
    source: str = ""


@dataclass(frozen=True)
class DatasetRules:
    """What a provider requires of a training file, applied offline by ``anytune validate``."""

    min_examples: int = 1
    max_tokens_per_example: int | None = None
    """Longer examples are truncated by the provider (counted and warned about)."""
    token_counter: TokenCounter | None = None
    price: Price | None = None
    methods: frozenset[str] = frozenset({"supervised"})
    auto_epochs: Callable[[int], int] | None = None
    """How the provider resolves ``n_epochs="auto"`` from the number of examples."""
    notes: tuple[str, ...] = ()
    """Anything else to show the user (e.g. how "auto" was resolved)."""


@dataclass(frozen=True)
class Segment:
    """A run of rendered training text and whether the loss is computed on it."""

    text: str
    trained: bool


@dataclass(frozen=True)
class RenderedExample:
    line: int
    segments: Sequence[Segment]
    tokens: int
    trained_tokens: int
    truncated: bool = False


class Provider(abc.ABC):
    """Base class for providers. Subclasses set ``name`` and implement the abstract methods.

    The optional operations (pause/resume, render, generate) raise
    ``UnsupportedOperationError`` unless the provider declares the capability and overrides
    them.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {}
    default_poll_interval: ClassVar[float] = 5.0
    """Seconds between polls when the user gives no ``--interval``."""
    connection_options: ClassVar[tuple[str, ...]] = ()
    """Constructor options (never secrets) that the job index keeps so that ``anytune status
    JOB`` can reach the same backend later, e.g. ``("base_url",)``."""

    # -- files ---------------------------------------------------------------------------
    @abc.abstractmethod
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        """Upload a local file for training and return it."""

    @abc.abstractmethod
    def get_file(self, file_id: str) -> FileObject: ...

    # -- jobs ----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_job(self, spec: JobSpec) -> Job:
        """Create a job. Must create at most one job per call, even when retried internally."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> Job: ...

    @abc.abstractmethod
    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        """Most recent jobs first."""

    @abc.abstractmethod
    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        """Events strictly after the event id ``after`` (all if None), oldest first."""

    @abc.abstractmethod
    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Checkpoints, oldest first."""

    @abc.abstractmethod
    def cancel_job(self, job_id: str) -> Job: ...

    def pause_job(self, job_id: str) -> Job:
        raise self._unsupported("pause")

    def resume_job(self, job_id: str) -> Job:
        raise self._unsupported("resume")

    # -- data ----------------------------------------------------------------------------
    def dataset_rules(self, model: str | None, *, method: str = "supervised") -> DatasetRules:
        """The rules ``anytune validate`` applies for this provider and model."""
        return DatasetRules(methods=self.capabilities.methods)

    def validate_spec(self, spec: JobSpec) -> JobSpec:
        """Check a spec before it is sent; returns it with options coerced to their types."""
        if spec.method not in self.capabilities.methods:
            raise UnsupportedOperationError(
                f"provider {self.name!r} does not support method {spec.method!r}",
                hint=f"supported methods: {', '.join(sorted(self.capabilities.methods))}",
                provider=self.name,
            )
        options = validate_options(self.name, self.option_specs, spec.options)
        if options == dict(spec.options):
            return spec
        from dataclasses import replace

        return replace(spec, options=options)

    def render_example(
        self, example: Mapping[str, Any], *, model: str, line: int, options: Mapping[str, Any]
    ) -> RenderedExample:
        raise self._unsupported("render")

    def generate(
        self,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        max_new_tokens: int = 128,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        raise self._unsupported("generate")

    def close(self) -> None:  # noqa: B027 -- optional hook, most providers hold nothing
        """Release connections. Safe to call twice."""

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"provider {self.name!r} does not support {what}", provider=self.name
        )


__all__ = [
    "Capabilities",
    "DatasetRules",
    "OptionSpec",
    "Price",
    "ProgressCallback",
    "Provider",
    "RenderedExample",
    "Segment",
    "TokenCounter",
    "validate_options",
]
