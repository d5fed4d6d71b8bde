"""Training itself: the local provider's LoRA / QLoRA / DPO recipe.

The worker calls ``train(request, reporter)`` in every training process; the CLI calls
``render_example``, ``generate`` and ``count_tokens_counter``. Nothing here imports torch until
one of those functions runs.

Interface changes are announced here (the jobs side reads this docstring):

- ``resolve_auto`` takes optional keywords ``processes``, ``gradient_accumulation_steps`` and
  ``method`` (defaults keep the agreed two-argument call working).
- ``TrainingFailure`` codes also include ``invalid_options`` (e.g. a batch_size that
  processes × gradient_accumulation_steps does not divide, bf16=true without a GPU).
- ``TrainRequest.hyperparameters`` is a ``Hyperparameters`` and ``TrainRequest.options`` a
  ``ProviderOptions`` holding every option (coerced, defaults filled in, once, on
  construction); plain mappings are still accepted and typed there.
- ``recipe.inference.generate_batch`` answers several conversations at once (examples use it);
  the module is not named ``generate``, so importing it never hides the ``generate`` function.

Modules, in the order a training run uses them:

========================  ==============================================================
``data``                  read chat / DPO JSONL, check it, report ``file:line`` problems
``messages``              OpenAI examples as chat templates take them (legacy functions, null)
``chat``                  what is trained, as text: inference prompt + answer of each turn
``guard``                 refuse what a template drops ("does not render X")
``tokenize``              those texts → training sequences (input_ids + labels)
``batching``              length-sorted micro-batches (no padding waste) and their stats
``setup``                 tokenizer, model, quantization, LoRA, precision
``trainer``               the Trainer subclass (micro-batches) and the reporter callback
``runtime``               processes (torchrun), Trainer arguments, OOM errors, saving
``sft``                   the supervised recipe: setup → data → train → save
``dpo``                   the preference (DPO) recipe
``inference``             run a base model or a saved adapter (``generate``)
``tiny``                  a random tiny chat model for tests and demos
========================  ==============================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from anytune.options import ProviderOptions
    from anytune.provider import RenderedExample, TokenCounter
    from anytune.types import Hyperparameters, Metrics


@dataclass
class TrainRequest:
    """Everything one training run needs; the worker receives it as JSON."""

    job_id: str
    base_model: str
    """A local directory or a hub id."""
    method: str
    """``"supervised"`` or ``"dpo"``."""
    train_path: Path
    valid_path: Path | None
    output_dir: Path
    """Where the final adapter goes (becomes ``Job.fine_tuned_model``)."""
    checkpoint_dir: Path
    """Where Trainer checkpoints (``checkpoint-<step>``) go."""
    hyperparameters: Hyperparameters = field(default_factory=lambda: _hyperparameters({}))
    """n_epochs, batch_size, learning_rate_multiplier, beta: numbers or ``"auto"`` (a plain
    mapping is accepted and typed on construction)."""
    options: ProviderOptions = field(default_factory=lambda: _options({}))
    """Every ``OPTION_SPECS`` option, coerced, defaults filled in (a plain mapping is
    accepted and resolved once, on construction, by ``options.local_options``)."""
    seed: int | None = None
    resume_from_checkpoint: Path | None = None
    file_names: Mapping[str, str] = field(default_factory=dict)
    """How messages name the data files: stored path → the name the user knows (the
    uploaded file's name), so that an error reads ``train.jsonl:2: ...``."""

    def __post_init__(self) -> None:
        # One parse per process: what the supervisor validated arrives typed, and JSON read
        # back in the training process is typed here, never again further down the recipe.
        self.hyperparameters = _hyperparameters(self.hyperparameters)
        self.options = _options(self.options)

    def to_json(self) -> str:
        data = {
            "job_id": self.job_id,
            "base_model": self.base_model,
            "method": self.method,
            "train_path": str(self.train_path),
            "valid_path": str(self.valid_path) if self.valid_path else None,
            "output_dir": str(self.output_dir),
            "checkpoint_dir": str(self.checkpoint_dir),
            "hyperparameters": self.hyperparameters.to_dict(),
            "options": self.options.to_dict(),
            "seed": self.seed,
            "file_names": dict(self.file_names),
            "resume_from_checkpoint": (
                str(self.resume_from_checkpoint) if self.resume_from_checkpoint else None
            ),
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainRequest:
        data = json.loads(text)
        return cls(
            job_id=data["job_id"],
            base_model=data["base_model"],
            method=data.get("method", "supervised"),
            train_path=Path(data["train_path"]),
            valid_path=Path(data["valid_path"]) if data.get("valid_path") else None,
            output_dir=Path(data["output_dir"]),
            checkpoint_dir=Path(data["checkpoint_dir"]),
            hyperparameters=_hyperparameters(data.get("hyperparameters") or {}),
            options=_options(data.get("options") or {}),
            seed=data.get("seed"),
            file_names=dict(data.get("file_names") or {}),
            resume_from_checkpoint=(
                Path(data["resume_from_checkpoint"]) if data.get("resume_from_checkpoint") else None
            ),
        )


def _hyperparameters(value: Hyperparameters | Mapping[str, Any]) -> Hyperparameters:
    from anytune.types import Hyperparameters

    return value if isinstance(value, Hyperparameters) else Hyperparameters.from_dict(value)


def _options(value: Mapping[str, Any]) -> ProviderOptions:
    from anytune_local.options import local_options

    return local_options(value)


class Reporter(Protocol):
    """Where a run reports to. Called only from the main process (rank 0), except
    ``should_stop`` which every process may call."""

    def event(
        self, message: str, *, level: str = "info", metrics: Metrics | None = None
    ) -> None: ...

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None: ...

    def hyperparameters(self, resolved: dict[str, Any]) -> None:
        """The numbers ``"auto"`` resolved to."""

    def should_stop(self) -> str | None:
        """None, ``"pause"`` (save a checkpoint, then stop) or ``"cancel"`` (stop now)."""


@dataclass
class TrainResult:
    stopped: str | None
    """None if training finished, ``"pause"`` / ``"cancel"`` if it stopped early."""
    trained_tokens: int
    """Tokens (prompt and answer, padding excluded) the model computed on while training."""
    final_train_loss: float | None
    output_dir: Path | None
    """The saved adapter; None when stopped early."""
    last_checkpoint: Path | None


class TrainingFailure(Exception):
    """A failure with a known cause. ``code`` is one of: invalid_model,
    invalid_training_file, invalid_options, out_of_memory, quantization_unavailable."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def train(request: TrainRequest, reporter: Reporter) -> TrainResult:
    """Run one training job to the end (or until the reporter asks it to stop).

    Safe under torchrun: every process calls it; only rank 0 reports and saves. Runs only in
    training processes (the worker's entry point), never in the CLI's.
    """
    if request.options["quantize"] == "none":
        from anytune_local.recipe.setup import hide_bitsandbytes

        hide_bitsandbytes()
    try:
        if request.method == "dpo":
            from anytune_local.recipe.dpo import train_dpo

            return train_dpo(request, reporter)
        if request.method != "supervised":
            raise TrainingFailure("invalid_options", f"unknown method {request.method!r}")
        from anytune_local.recipe.sft import train_sft

        return train_sft(request, reporter)
    except TrainingFailure as exc:
        message = exc.message
        for stored, name in request.file_names.items():
            message = message.replace(stored, name)
        if message == exc.message:
            raise
        raise TrainingFailure(exc.code, message) from exc


def render_example(
    example: Mapping[str, Any], *, model: str, options: Mapping[str, Any], line: int
) -> RenderedExample:
    """Render one chat example with ``model``'s chat template, marking the trained text."""
    from anytune_local.recipe.tokenize import render_example as _render

    return _render(example, model=model, options=options, line=line)


def generate(
    model_path: str,
    messages: list[dict[str, Any]],
    *,
    max_new_tokens: int = 128,
) -> str:
    """Greedy reply of a base model or a saved adapter directory to ``messages``."""
    from anytune_local.recipe.inference import generate as _generate

    return _generate(model_path, messages, max_new_tokens=max_new_tokens)


def count_tokens_counter(model: str, options: Mapping[str, Any] | None = None) -> TokenCounter:
    """An exact token counter: what training computes on with ``model`` and ``options``
    (every sequence of an example); it refuses what the chat template cannot render."""
    from anytune_local.recipe.tokenize import ChatTemplateTokenCounter

    return ChatTemplateTokenCounter(model, options)


__all__ = [
    "Reporter",
    "TrainRequest",
    "TrainResult",
    "TrainingFailure",
    "count_tokens_counter",
    "generate",
    "render_example",
    "train",
]
