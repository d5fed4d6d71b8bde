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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from anytune.dataset.report import Problem
from anytune.errors import UnsupportedOperationError
from anytune.options import OptionSpec, ProviderOptions, validate_options
from anytune.spec import HyperparameterLimits, Limit, ValidatedSpec, check_common, restore
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
    """Training methods accepted in ``JobSpec.method`` (any names the provider trains)."""
    render: bool = False
    """``render_example`` shows which tokens are trained."""
    generate: bool = False
    """``generate`` (and ``generate_batch``) run a fine-tuned model."""
    score: bool = False
    """``score`` computes the loss of reference answers (``anytune eval``'s loss column)."""
    file_management: bool = False
    """``list_files`` / ``delete_file`` work."""
    export_targets: frozenset[str] = frozenset()
    """What ``export_model`` writes, e.g. {"peft", "merged", "vllm", "ollama", "gguf"}."""


class StrippedDeltas:
    """Deltas of ``text.strip()`` from deltas of ``text``: leading whitespace dropped,
    trailing whitespace held until more text follows it (dropped at the end). How a
    ``generate_stream`` keeps its deltas joining into exactly ``generate``'s stripped reply."""

    def __init__(self) -> None:
        self.started = False
        self.held = ""

    def feed(self, piece: str) -> str:
        if not self.started:
            piece = piece.lstrip()
            if not piece:
                return ""
            self.started = True
        body = piece.rstrip()
        if not body:
            self.held += piece
            return ""
        out = self.held + body
        self.held = piece[len(body) :]
        return out


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
    job_counts_exactly: bool = False
    """The job itself renders and counts every example with ``token_counter``'s rules before
    it trains (local: before the model loads) and fails with the same ``file:line`` errors.
    ``create`` and ``run`` then check the format and estimate the tokens, leaving the exact
    pass (which loads the model's tokenizer: seconds) to the job instead of doing it twice;
    ``anytune validate -m MODEL`` still runs it."""


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


@dataclass(frozen=True)
class ExportResult:
    """What ``export_model`` wrote, and how to serve it."""

    target: str
    directory: Path
    files: tuple[str, ...]
    """Paths written, relative to ``directory``."""
    commands: tuple[str, ...] = ()
    """Shell commands that serve the export (e.g. ``vllm serve ...``)."""
    notes: tuple[str, ...] = ()
    """Decisions taken, e.g. why the adapter was merged into its base model."""
    merged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "directory": str(self.directory),
            "files": list(self.files),
            "commands": list(self.commands),
            "notes": list(self.notes),
            "merged": self.merged,
        }


class Provider(abc.ABC):
    """Base class for providers. Subclasses set ``name`` and implement the abstract methods.

    Creating a job is a template method: ``create_job(spec)`` validates the spec once
    (``validate_spec``: the shared rules, then the provider's ``check_spec`` and
    ``check_files`` hooks) and hands the resulting ``ValidatedSpec`` (typed options, defaults
    filled in) to the provider's ``submit_job``. Providers override the hooks, never
    ``create_job``, and check nothing twice.

    ``list_events(job_id, after=ID)`` with an ``ID`` that is not an event of that job raises
    ``NotFoundError`` (a cursor that cannot be found is never silently taken as "from the
    start", which would deliver the history twice).

    The optional operations (pause/resume, render, generate, list/delete files) raise
    ``UnsupportedOperationError`` unless the provider declares the capability and overrides
    them.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {}
    hyperparameter_limits: ClassVar[HyperparameterLimits] = HyperparameterLimits()
    """The hyperparameter ranges the provider accepts (OpenAI's by default)."""
    default_poll_interval: ClassVar[float] = 5.0
    """Seconds between polls when the user gives no ``--interval``."""
    connection_options: ClassVar[tuple[str, ...]] = ()
    """Constructor options (never secrets) that the job index keeps so that ``anytune status
    JOB`` can reach the same backend later, e.g. ``("base_url",)``."""
    secret_connection_options: ClassVar[tuple[str, ...]] = ()
    """Constructor options that are secrets (API keys, Fireworks' account id): the core never
    records them (the job index drops them even if listed in ``connection_options``) and
    never prints their values (``scrub``, and the CLI's output). ``secret_values`` reads
    them from the instance."""
    secret_min_length: ClassVar[int] = 6
    """Secrets shorter than this are not scrubbed (see ``anytune.secrets.MIN_LENGTH``)."""

    # -- files ---------------------------------------------------------------------------
    @abc.abstractmethod
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        """Upload a local file for training and return it."""

    @abc.abstractmethod
    def get_file(self, file_id: str) -> FileObject: ...

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        """Uploaded files, newest first (only those of ``purpose`` if given), at most ``limit``."""
        raise self._unsupported("listing files")

    def delete_file(self, file_id: str) -> None:
        """Delete an uploaded file; ``NotFoundError`` if there is none by that id."""
        raise self._unsupported("deleting files")

    # -- jobs ----------------------------------------------------------------------------
    def create_job(self, spec: JobSpec) -> Job:
        """Validate ``spec`` (unless this provider already did, files included) and submit it.

        Creates at most one job per call, even when ``submit_job`` retries internally.
        """
        if not (
            isinstance(spec, ValidatedSpec) and spec.provider == self.name and spec.files_checked
        ):
            spec = self.validate_spec(spec)
        return self.submit_job(spec)

    @abc.abstractmethod
    def submit_job(self, spec: ValidatedSpec) -> Job:
        """Create the job for an already validated spec; called by ``create_job`` only.

        Must create at most one job per call, even when retried internally.
        """

    def validate_spec(self, spec: JobSpec, *, check_files: bool = True) -> ValidatedSpec:
        """Check ``spec`` for this provider, once, and return it typed.

        The shared rules (method declared in ``capabilities.methods``, hyperparameters within
        ``hyperparameter_limits_for(spec.model)``, beta only with DPO, options known and coerced, defaults
        filled in), then ``check_spec``, then (``check_files=True``) ``check_files``. Pass
        ``check_files=False`` to check everything before anything is uploaded. Every mistake
        is an ``InvalidArgumentError`` (or another ``AnytuneError``) naming the valid choices.
        """
        validated = check_common(
            spec,
            provider=self.name,
            methods=self.capabilities.methods,
            limits=self.hyperparameter_limits_for(spec.model),
            option_specs=self.option_specs,
        )
        self.check_spec(validated)
        if check_files:
            self.check_files(validated)
            validated = replace(validated, files_checked=True)
        return validated

    def hyperparameter_limits_for(self, model: str | None) -> HyperparameterLimits:
        """The hyperparameter ranges for jobs on ``model`` (None: no model named yet), which
        ``validate_spec`` and ``anytune validate`` check. Vendors' limits vary by model
        (e.g. a smaller largest batch for a bigger model); the default is the class's
        ``hyperparameter_limits`` for every model."""
        return self.hyperparameter_limits

    def check_spec(self, spec: ValidatedSpec) -> None:  # noqa: B027 -- optional hook
        """Hook: provider-specific checks that need nothing uploaded (the model, option
        combinations). Raise an ``AnytuneError``; the default checks nothing more."""

    def check_files(self, spec: ValidatedSpec) -> None:  # noqa: B027 -- optional hook
        """Hook: the spec's files exist and are usable. The default checks nothing (a hosted
        provider validates files itself, and a lookup would cost a request)."""

    def load_spec(self, data: Mapping[str, Any]) -> ValidatedSpec:
        """A ``ValidatedSpec`` back from its ``to_dict()`` (a provider's own store)."""
        return restore(data, provider=self.name, option_specs=self.option_specs)

    @abc.abstractmethod
    def get_job(self, job_id: str) -> Job: ...

    @abc.abstractmethod
    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        """Most recent jobs first."""

    @abc.abstractmethod
    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        """Events strictly after the event id ``after`` (all if None), oldest first.

        ``NotFoundError`` if the job has no event ``after`` (see the class docstring).
        """

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
    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        """The rules ``anytune validate`` applies for this provider and model.

        ``options`` are the job's options as ``validate_spec`` typed them (defaults filled
        in), or None when none were given; rules that depend on one (e.g. ``max_length``)
        read it from there."""
        return DatasetRules(methods=self.capabilities.methods)

    def check_dataset(self, path: Path, *, method: str = "supervised") -> list[Problem]:
        """Hook: the provider's own check of a local training or validation file (e.g. the
        vendor SDK's file check), run offline by ``anytune validate -p`` and before every
        upload, after the shared format checks. Returns ``Problem("FILE", LINE or None,
        "what is wrong and how to fix it")`` records (empty: the file passes); the default
        checks nothing more."""
        return []

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

    def generate_stream(
        self,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Iterator[str]:
        """The reply as text deltas, in order, as the model writes it (``anytune serve``'s
        streaming chat completions); their concatenation is the reply ``generate`` gives
        when ``temperature`` is 0 (greedy). Closing the iterator early stops generation.

        ``temperature`` > 0 samples (with ``top_p``); ``seed`` makes sampling repeatable where
        the provider can seed it (best effort, as in OpenAI's API). The default yields the
        whole reply once: ``generate``'s when greedy, else ``generate_batch``'s (which refuses
        sampling it cannot do), ignoring ``seed``; providers that can stream override it.
        """
        conversation = list(messages)
        if temperature == 0.0:
            yield self.generate(model, conversation, max_new_tokens=max_new_tokens, options=options)
            return
        yield self.generate_batch(
            model,
            [conversation],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            options=options,
        )[0]

    def generate_batch(
        self,
        model: str,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        options: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """One reply per conversation (greedy when ``temperature`` is 0).

        The default calls ``generate`` once per conversation (greedy only: it refuses a
        ``temperature`` or ``top_p`` it cannot pass on); providers that batch override it.
        """
        if temperature != 0.0 or top_p != 1.0:
            raise self._unsupported("sampling (temperature/top_p) in generate_batch")
        return [
            self.generate(model, messages, max_new_tokens=max_new_tokens, options=options)
            for messages in conversations
        ]

    def score(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
    ) -> list[float]:
        """The mean per-token loss of each example's last assistant message (the reference
        answer, as training defines its target) given the conversation before it."""
        raise self._unsupported("scoring reference answers")

    def export_model(
        self,
        model: str,
        target: str,
        directory: Path,
        *,
        options: Mapping[str, Any] | None = None,
    ) -> ExportResult:
        """Write ``model`` (a fine-tuned model or a job id) to ``directory`` in the form
        ``target`` serves (one of ``capabilities.export_targets``), checked against that
        target's limits first."""
        raise self._unsupported(f"exporting models (to {target})")

    def local_file(self, file_id: str) -> Path | None:
        """A path on this machine holding an uploaded file's bytes, or None when the
        provider keeps files elsewhere (``anytune eval``'s contamination check, ``rerun``)."""
        return None

    def download(self, job_id: str, directory: Path) -> Path:
        """Bring a succeeded job's fine-tuned model to ``directory`` on this machine
        (``anytune download``); returns the path written (the adapter's directory, or the
        provider's archive in it)."""
        raise self._unsupported("downloading a fine-tuned model")

    def secret_values(self) -> tuple[str, ...]:
        """The values this instance holds for ``secret_connection_options`` (given or read
        from the environment): the attribute of each name, or of ``_`` + the name."""
        found = []
        for name in self.secret_connection_options:
            value = getattr(self, name, None) or getattr(self, "_" + name, None)
            if isinstance(value, str) and value:
                found.append(value)
        return tuple(found)

    def scrub(self, text: str) -> str:
        """``text`` without this provider's secrets (for the messages of translated errors)."""
        from anytune.secrets import scrub

        return scrub(text, self.secret_values(), minimum=self.secret_min_length)

    def close(self) -> None:  # noqa: B027 -- optional hook, most providers hold nothing
        """Release connections. Safe to call twice."""

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"provider {self.name!r} does not support {what}", provider=self.name
        )


__all__ = [
    "Capabilities",
    "DatasetRules",
    "ExportResult",
    "HyperparameterLimits",
    "Limit",
    "OptionSpec",
    "Price",
    "Problem",
    "ProgressCallback",
    "Provider",
    "ProviderOptions",
    "RenderedExample",
    "Segment",
    "StrippedDeltas",
    "TokenCounter",
    "ValidatedSpec",
    "validate_options",
]
