"""Run an evaluation: every example's reference against the model's reply, for the tuned
model and (optionally) a baseline, on any provider that can generate.

::

    from anytune.evaluation import evaluate
    report = evaluate(provider, "ftjob-...", "valid.jsonl", baseline="./tiny")
    print(report.markdown())

The training file is checked for overlap with the evaluation file first (the overlap check
of ``anytune validate``): overlap is refused unless ``allow_overlap``, and then reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.errors import (
    AnytuneError,
    ConflictError,
    DatasetError,
    InvalidArgumentError,
    InvalidRequestError,
    NotFoundError,
    UnsupportedOperationError,
)
from anytune.evaluation.data import EvalExample, load_examples
from anytune.evaluation.metrics import exact_match, token_f1
from anytune.evaluation.report import EvalReport, ModelResult
from anytune.provider import Provider
from anytune.types import Job

EvalProgress = Callable[[str, int, int], None]
"""Called as ``progress(model, examples_done, examples_total)`` after each batch."""


@dataclass(frozen=True)
class Target:
    """What is evaluated: a model name the provider generates with, and its job if any."""

    model: str
    job: Job | None = None


def resolve(provider: Provider, model_or_job: str) -> Target:
    """A job id becomes its fine-tuned model; anything else is taken as a model."""
    try:
        job = provider.get_job(model_or_job)
    except (NotFoundError, InvalidArgumentError, InvalidRequestError):
        return Target(model_or_job)  # not a job id of this provider: a model name
    if not job.fine_tuned_model:
        raise ConflictError(
            f"job {job.id} has no fine-tuned model yet (it is {job.status})",
            hint=f"wait for it: `anytune wait {job.id}`",
            provider=provider.name,
        )
    return Target(job.fine_tuned_model, job)


def training_path(provider: Provider, job: Job | None) -> Path | None:
    """The job's training file on this machine: the provider's copy, else the file anytune
    uploaded it from (recorded in the job index), if unchanged since."""
    if job is None:
        return None
    try:
        found = provider.local_file(job.training_file)
    except AnytuneError:
        found = None
    if found is None:  # where anytune uploaded it from, if it is unchanged since
        from anytune.index import JobIndex

        try:
            found = JobIndex().unchanged_source(provider.name, job.training_file)
        except AnytuneError:
            found = None
    return found


def check_overlap(train: Path, file: Path, *, allow: bool) -> list[str]:
    """Refuse (``DatasetError``) or, with ``allow``, warn when ``file`` repeats examples of
    the training file ``train``; the overlap rule is ``validate``'s."""
    from anytune.dataset.validate import validate_file

    overlap = validate_file(train, validation_path=file).overlap
    if overlap is None or not (overlap.examples or overlap.prompts):
        return []
    pairs = ", ".join(f"{file}:{v} = {train}:{t}" for t, v in overlap.pairs[:5])
    found = []
    if overlap.examples:
        found.append(
            f"{overlap.examples} evaluation example(s) also in the training file {train}"
            + (f" ({pairs})" if pairs else "")
            + ": the scores overstate what the model learned"
        )
    if overlap.prompts:
        found.append(
            f"{overlap.prompts} evaluation prompt(s) also in the training file with another answer"
        )
    if not allow and overlap.examples:
        raise DatasetError(
            f"{file}: contaminated: " + "; ".join(found),
            hint="evaluate on held-out examples (remove them from one file), or pass "
            "--allow-overlap to evaluate anyway",
        )
    return found


def _generate(
    provider: Provider,
    model: str,
    examples: list[EvalExample],
    *,
    batch_size: int,
    settings: dict[str, Any],
    progress: EvalProgress | None,
) -> list[str]:
    replies: list[str] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        got = provider.generate_batch(model, [e.prompt for e in chunk], **settings)
        if len(got) != len(chunk):
            raise AnytuneError(
                f"provider {provider.name} returned {len(got)} replies for {len(chunk)} "
                "conversations",
                provider=provider.name,
            )
        replies += got
        if progress is not None:
            progress(model, len(replies), len(examples))
    return replies


def run_model(
    provider: Provider,
    model: str,
    examples: list[EvalExample],
    *,
    batch_size: int = 16,
    settings: dict[str, Any] | None = None,
    progress: EvalProgress | None = None,
) -> ModelResult:
    """One model's replies, metrics, and reference losses (where the provider scores)."""
    replies = _generate(
        provider, model, examples, batch_size=batch_size, settings=settings or {}, progress=progress
    )
    losses = None
    if provider.capabilities.score:
        losses = provider.score(model, [e.record for e in examples])
    references = [e.reference for e in examples]
    return ModelResult(
        model=model,
        generations=replies,
        exact=[exact_match(r, e) for r, e in zip(replies, references, strict=True)],
        f1=[token_f1(r, e) for r, e in zip(replies, references, strict=True)],
        losses=losses,
    )


def _last_user(example: EvalExample) -> str:
    for message in reversed(example.prompt):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def evaluate(
    provider: Provider,
    model_or_job: str,
    file: str | Path,
    *,
    baseline: str | None = None,
    training_file: str | Path | None = None,
    allow_overlap: bool = False,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    limit: int | None = None,
    progress: EvalProgress | None = None,
) -> EvalReport:
    """Evaluate ``model_or_job`` (and ``baseline``) on the chat examples of ``file``.

    ``training_file`` (a local path; by default the job's, where the provider keeps it on
    this machine) is checked for overlap first. Greedy decoding unless ``temperature`` > 0.
    """
    if not provider.capabilities.generate:
        raise UnsupportedOperationError(
            f"provider {provider.name!r} cannot generate, so it cannot evaluate",
            provider=provider.name,
        )
    if batch_size < 1 or max_new_tokens < 1:
        raise InvalidArgumentError("batch_size and max_new_tokens must be at least 1")
    path = Path(file)
    examples = load_examples(path, limit=limit)
    target = resolve(provider, model_or_job)
    warnings: list[str] = []
    train = Path(training_file) if training_file else training_path(provider, target.job)
    if train is not None:
        warnings += check_overlap(train, path, allow=allow_overlap)
    else:
        warnings.append(
            "the training file was not checked for overlap (pass --train-file / training_file)"
        )
    settings: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
    }
    common: dict[str, Any] = {"batch_size": batch_size, "settings": settings, "progress": progress}
    tuned = run_model(provider, target.model, examples, **common)
    base = None
    if baseline is not None:
        base = run_model(provider, resolve(provider, baseline).model, examples, **common)
    return EvalReport(
        file=str(path),
        lines=[e.line for e in examples],
        prompts=[_last_user(e) for e in examples],
        references=[e.reference for e in examples],
        tuned=tuned,
        baseline=base,
        settings={**settings, "provider": provider.name},
        warnings=warnings,
    )


__all__ = ["EvalProgress", "Target", "check_overlap", "evaluate", "resolve", "run_model"]
