"""What the local provider does with trained models besides ``generate``: streamed replies
(``anytune serve``), batched generation and reference-answer scoring (``anytune eval``),
export, and the path of an uploaded file.

A mixin of ``LocalProvider`` (kept apart so the provider module stays about the job
lifecycle); no ML library is imported until a model is run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune.errors import ConflictError
from anytune.types import status_phrase
from anytune_local import files
from anytune_local.models import check_model, resolve_model

if TYPE_CHECKING:
    from anytune.provider import ExportResult
    from anytune.types import Job
    from anytune_local.store import Store


def _recipe_errors_lazy() -> Any:
    from anytune_local.provider import _recipe_errors

    return _recipe_errors("local")


class ModelUse:
    """``generate_stream``, ``generate_batch``, ``score``, ``export_model`` and ``local_file``
    for ``LocalProvider``."""

    store: Store

    def get_job(self, job_id: str) -> Job:  # provided by LocalProvider
        raise NotImplementedError

    def model_path(self, model: str) -> str:
        """A job id's adapter directory, or ``model`` itself (checked, resolved)."""
        if model.startswith("ftjob-"):
            job = self.get_job(model)
            if not job.fine_tuned_model:
                raise ConflictError(
                    f"job {model} has no fine-tuned model: it {status_phrase(job.status)}"
                )
            model = job.fine_tuned_model
        check_model(model)
        return resolve_model(model)

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
        """Text deltas as the model writes them (the adapter on its base, loaded once and
        cached); closing the iterator stops generation."""
        from anytune_local.provider import _recipe_errors
        from anytune_local.recipe.streaming import generate_stream

        path = self.model_path(model)
        with _recipe_errors("local"):
            yield from generate_stream(
                path,
                [dict(m) for m in messages],
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
            )

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
        """Replies in one left-padded batch, greedy unless ``temperature`` > 0."""
        from anytune_local.provider import _recipe_errors
        from anytune_local.recipe.inference import generate_batch

        path = self.model_path(model)
        with _recipe_errors("local"):
            return generate_batch(
                path,
                [[dict(m) for m in c] for c in conversations],
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
            )

    def score(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
    ) -> list[float]:
        """Mean loss of each example's reference answer, as training defines the target."""
        from anytune_local.provider import _recipe_errors
        from anytune_local.recipe.inference import score

        path = self.model_path(model)
        with _recipe_errors("local"):
            return score(path, [dict(e) for e in examples])

    def export_model(
        self,
        model: str,
        target: str,
        directory: Path,
        *,
        options: Mapping[str, Any] | None = None,
    ) -> ExportResult:
        """``anytune export``: options ``name``, ``max_lora_rank``, ``gguf_type``, ``force``."""
        from anytune_local.export import export_adapter

        given = dict(options or {})
        path = Path(self.model_path(model))
        with _recipe_errors_lazy():
            return export_adapter(path, target, Path(directory), **given)

    def local_file(self, file_id: str) -> Path | None:
        """The stored copy of an uploaded file."""
        return Path(files.find_file(self.store, file_id).path)
