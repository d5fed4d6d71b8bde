"""Fireworks' job options (``-o``, named as the local provider names the same settings) and
what its create requests accept, checked before anything is uploaded or sent.

Fireworks trains LoRA only and exposes the rank alone: there is no alpha, dropout or
target-module setting, so ``lora_alpha`` / ``lora_dropout`` / ``target_modules`` are refused
with that reason rather than ignored."""

from __future__ import annotations

from collections.abc import Mapping

from anytune.errors import InvalidArgumentError
from anytune.provider import OptionSpec
from anytune.spec import ValidatedSpec
from anytune_fireworks import catalog

OPTIONS: Mapping[str, OptionSpec] = {
    "lora_r": OptionSpec(
        int, None, f"LoRA rank, 1 to {catalog.MAX_LORA_RANK} (default: Fireworks')"
    ),
    "lora_alpha": OptionSpec(int, None, "not offered by Fireworks (refused)"),
    "lora_dropout": OptionSpec(float, None, "not offered by Fireworks (refused)"),
    "target_modules": OptionSpec(list, None, "not offered by Fireworks (refused)"),
    "max_length": OptionSpec(
        int, None, "context length to train with (Fireworks' max_context_length)"
    ),
    "gradient_accumulation_steps": OptionSpec(int, None, "accumulation steps per batch"),
    "warmup_steps": OptionSpec(int, None, "learning-rate warm-up steps"),
    "weight_decay": OptionSpec(float, None, "optimizer weight decay"),
    "early_stop": OptionSpec(bool, False, "stop when the validation loss stops improving"),
    "eval_auto_carveout": OptionSpec(
        bool, False, "hold out part of the training file for evaluation"
    ),
    "output_model": OptionSpec(str, None, "id of the fine-tuned model (default: the job id)"),
    "warm_start_from": OptionSpec(str, None, "continue from this fine-tuned (PEFT) model"),
    "wandb_project": OptionSpec(str, None, "send metrics to this W&B project (WANDB_API_KEY)"),
    "wandb_entity": OptionSpec(str, None, "W&B team or user"),
}
NOT_OFFERED = ("lora_alpha", "lora_dropout", "target_modules")
MAX_DISPLAY_NAME = 64


def _bad(message: str, hint: str, provider: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, hint=hint, provider=provider)


def check_spec(spec: ValidatedSpec, provider: str, context: int | None = None) -> None:
    """``context``: the model's training context in tokens (``_shapes.lookup``), None where
    not known (Fireworks then checks ``max_context_length`` itself)."""
    opts = spec.options
    given = [name for name in NOT_OFFERED if name in opts.explicit]
    if given:
        raise _bad(
            f"{provider} does not let a job set {', '.join(given)} (it exposes the LoRA rank only)",
            "drop them; -o lora_r=N sets the rank",
            provider,
        )
    if spec.metadata:
        raise _bad(
            f"{provider} jobs carry no metadata (got {', '.join(sorted(spec.metadata))})",
            "drop --metadata",
            provider,
        )
    if spec.integrations:
        raise _bad(
            f"{provider} takes no --integration", "use -o wandb_project=NAME for W&B", provider
        )
    if spec.seed is not None:
        raise _bad(f"{provider} jobs take no seed", "drop --seed (Fireworks chooses it)", provider)
    if spec.suffix is not None and not (1 <= len(spec.suffix) <= MAX_DISPLAY_NAME):
        raise _bad(
            f"suffix {spec.suffix!r} is {len(spec.suffix)} characters; {provider} takes 1 to "
            f"{MAX_DISPLAY_NAME} (it becomes the job's display name)",
            "use a shorter --suffix",
            provider,
        )
    rank = opts.get_int("lora_r")
    if rank is not None and not 1 <= rank <= catalog.MAX_LORA_RANK:
        raise _bad(
            f"lora_r must be 1 to {catalog.MAX_LORA_RANK} on {provider}, got {rank}",
            "e.g. -o lora_r=16",
            provider,
        )
    for name in ("max_length", "gradient_accumulation_steps"):
        value = opts.get_int(name)
        if value is not None and value < 1:
            raise _bad(
                f"option {name} must be positive, got {value}", f"e.g. -o {name}=2", provider
            )
    warmup = opts.get_int("warmup_steps")
    if warmup is not None and warmup < 0:
        raise _bad("option warmup_steps must be >= 0", "e.g. -o warmup_steps=10", provider)
    decay = opts.get_float("weight_decay")
    if decay is not None and decay < 0:
        raise _bad("option weight_decay must be >= 0", "e.g. -o weight_decay=0.01", provider)
    max_length = opts.get_int("max_length")
    if context is not None and max_length and max_length > context:
        raise _bad(
            f"max_length {max_length} is over {spec.model}'s training context of {context} "
            f"tokens on {provider}",
            f"use -o max_length={context} or less",
            provider,
        )
    if opts.get_bool("early_stop") and not (
        spec.validation_file is not None or opts.get_bool("eval_auto_carveout")
    ):
        raise _bad(
            "early_stop needs a validation file (or -o eval_auto_carveout=true)",
            "add -v VALID.jsonl",
            provider,
        )
