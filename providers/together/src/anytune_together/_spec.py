"""Together's job options (``-o``) and what its create request accepts, checked before
anything is uploaded or sent. LoRA options carry the local provider's names where the
meaning is the same (``lora_r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``,
``max_length``, ``warmup_ratio``, ``weight_decay``, ``lr_scheduler``, ``max_grad_norm``)."""

from __future__ import annotations

from collections.abc import Mapping

from anytune.errors import InvalidArgumentError
from anytune.provider import OptionSpec
from anytune.spec import ValidatedSpec
from anytune_together import catalog

OPTIONS: Mapping[str, OptionSpec] = {
    "lora": OptionSpec(bool, True, "train LoRA adapters (false: full fine-tuning)"),
    "lora_r": OptionSpec(int, None, "LoRA rank (default: the model's default rank)"),
    "lora_alpha": OptionSpec(int, None, "LoRA alpha (default: twice the rank)"),
    "lora_dropout": OptionSpec(float, 0.0, "dropout on the LoRA input, in [0, 1)"),
    "target_modules": OptionSpec(
        list, ["all-linear"], "modules that get LoRA adapters, e.g. q_proj,v_proj"
    ),
    "train_on_inputs": OptionSpec(
        str,
        "auto",
        "SFT: also train on user/system text (auto: not for chat data)",
        choices=("auto", "true", "false"),
    ),
    "max_length": OptionSpec(int, None, "tokens per example (Together's max_seq_length)"),
    "n_checkpoints": OptionSpec(int, 1, "checkpoints saved during training"),
    "n_evals": OptionSpec(int, 0, "validation-loss evaluations (needs a validation file)"),
    "warmup_ratio": OptionSpec(float, 0.0, "fraction of the steps spent warming up"),
    "weight_decay": OptionSpec(float, 0.0, "AdamW weight decay"),
    "max_grad_norm": OptionSpec(float, 1.0, "gradient clipping (0 turns it off)"),
    "lr_scheduler": OptionSpec(
        str, "cosine", "learning-rate schedule", choices=("cosine", "linear")
    ),
    "packing": OptionSpec(bool, True, "pack several examples into one sequence"),
    "from_checkpoint": OptionSpec(
        str, None, "continue from a checkpoint (JOB_ID or JOB_ID:STEP) instead of the model"
    ),
    "wandb_project": OptionSpec(str, None, "send metrics to this W&B project (WANDB_API_KEY)"),
    "wandb_name": OptionSpec(str, None, "W&B run name"),
    "wandb_entity": OptionSpec(str, None, "W&B team or user"),
}

LORA_ONLY = ("lora_r", "lora_alpha", "lora_dropout", "target_modules")


def _bad(message: str, hint: str, provider: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, hint=hint, provider=provider)


def check_spec(spec: ValidatedSpec, provider: str) -> None:
    """Raise ``InvalidArgumentError`` for the first thing Together would refuse."""
    opts = spec.options
    if spec.metadata:
        raise _bad(
            f"{provider} jobs carry no metadata (got {', '.join(sorted(spec.metadata))})",
            "drop --metadata; keep your own record of the job id instead",
            provider,
        )
    if spec.integrations:
        raise _bad(
            f"{provider} takes no --integration",
            "use -o wandb_project=NAME (with WANDB_API_KEY in the environment) for W&B",
            provider,
        )
    if spec.suffix is not None and not (1 <= len(spec.suffix) <= catalog.MAX_SUFFIX):
        raise _bad(
            f"suffix {spec.suffix!r} is {len(spec.suffix)} characters; {provider} takes 1 to "
            f"{catalog.MAX_SUFFIX}",
            "use a shorter --suffix",
            provider,
        )
    if spec.seed is not None and spec.seed < 0:
        raise _bad(f"seed {spec.seed} is negative", "pass a seed >= 0", provider)
    if not opts.get_bool("lora"):
        given = [name for name in LORA_ONLY if name in opts.explicit]
        if given:
            raise _bad(
                f"{', '.join(given)} only apply to LoRA, but -o lora=false asks for full training",
                "drop them, or drop -o lora=false",
                provider,
            )
    dropout = opts.get_float("lora_dropout") or 0.0
    if not 0.0 <= dropout < 1.0:
        raise _bad(
            f"lora_dropout must be in [0, 1), got {dropout}", "e.g. -o lora_dropout=0.05", provider
        )
    for name in ("lora_r", "lora_alpha", "n_checkpoints", "max_length"):
        value = opts.get_int(name)
        if value is not None and value < (0 if name == "n_checkpoints" else 1):
            raise _bad(
                f"option {name} must be positive, got {value}", f"e.g. -o {name}=8", provider
            )
    warmup = opts.get_float("warmup_ratio") or 0.0
    if not 0.0 <= warmup <= 1.0:
        raise _bad(f"option warmup_ratio must be in [0, 1], got {warmup}", "e.g. 0.05", provider)
    for name in ("weight_decay", "max_grad_norm"):
        number = opts.get_float(name) or 0.0
        if number < 0:
            raise _bad(f"option {name} must be >= 0, got {number}", "e.g. 0.0", provider)
    if (opts.get_int("n_evals") or 0) < 0:
        raise _bad("option n_evals must be >= 0", "e.g. -o n_evals=4", provider)
    if "train_on_inputs" in opts.explicit and spec.method == "dpo":
        raise _bad("train_on_inputs applies to SFT only", "drop -o train_on_inputs", provider)
    info = catalog.lookup(spec.model)
    max_length = opts.get_int("max_length")
    if info is not None and max_length:
        limit = info.max_seq_length_dpo if spec.method == "dpo" else info.max_seq_length_sft
        if max_length > limit:
            raise _bad(
                f"max_length {max_length} is over {spec.model}'s limit of {limit} tokens on "
                f"{provider}",
                f"use -o max_length={limit} or less",
                provider,
            )
    rank = opts.get_int("lora_r")
    if info is not None and rank is not None and rank > info.max_lora_rank:
        raise _bad(
            f"lora_r {rank} is over {spec.model}'s largest LoRA rank on {provider} "
            f"({info.max_lora_rank})",
            f"use -o lora_r={info.max_lora_rank} or less",
            provider,
        )
    if info is not None and not opts.get_bool("lora") and not info.full_training:
        raise _bad(
            f"{spec.model} has no full fine-tuning on {provider}",
            "drop -o lora=false (LoRA is the default)",
            provider,
        )
