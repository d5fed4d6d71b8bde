"""The local provider's options and its rule for ``"auto"`` hyperparameters.

Light on purpose (no torch): the CLI imports it to validate ``--option name=value``.

Defaults (the seed recipe): LoRA r=16, alpha=32, dropout=0.05 on every linear layer, learning
rate 2e-4 × ``learning_rate_multiplier``, linear decay after 3% warmup, max length 2048
tokens (longer examples are truncated, counted and reported), bf16 on a GPU that supports it
and fp32 everywhere else.

The rule for ``"auto"`` (``resolve_auto``), given ``n`` training examples:

- ``n_epochs``: 3, as OpenAI does; raised so that training sees at least 100 examples
  (``min(25, ceil(100 / n))`` when ``3 n < 100``) and lowered so it sees at most 25,000
  (``max(1, 25000 // n)`` when ``3 n > 25000``).
- ``batch_size``: the largest power of two not above ``n / 32``, between 1 and 16
  (n=100 → 2, n=300 → 8, n≥512 → 16), then rounded up to a multiple of
  ``processes × gradient_accumulation_steps`` so every optimizer step sees exactly
  ``batch_size`` examples.
- ``learning_rate_multiplier``: 1 (learning rate 2e-4).
- ``beta`` (DPO): 0.1.

>>> from anytune.types import Hyperparameters
>>> resolve_auto(300, Hyperparameters())["batch_size"]
8
>>> resolve_auto(20, Hyperparameters())["n_epochs"]
5
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from anytune.errors import InvalidArgumentError
from anytune.options import ProviderOptions, resolve_options
from anytune.provider import OptionSpec
from anytune.types import AUTO, Hyperparameters

BASE_LEARNING_RATE = 2e-4
DEFAULT_BETA = 0.1

EXPORT_MAX_RANK = 64
"""The largest LoRA rank ``export_profile=vllm`` allows (vLLM serves up to 512, but above 64
each adapter costs more GPU memory than most deployments reserve)."""

OPTION_SPECS: dict[str, OptionSpec] = {
    "lora_r": OptionSpec(int, 16, "LoRA rank"),
    "lora_alpha": OptionSpec(int, 32, "LoRA alpha (scale = alpha / r)"),
    "lora_dropout": OptionSpec(float, 0.05, "dropout on the LoRA input"),
    "target_modules": OptionSpec(
        list, ["all-linear"], "modules that get LoRA adapters, e.g. q_proj,v_proj"
    ),
    "modules_to_save": OptionSpec(
        list, [], "modules trained in full and saved with the adapter, e.g. embed_tokens,lm_head"
    ),
    "quantize": OptionSpec(
        str,
        "none",
        "load the base model quantized with bitsandbytes: 4bit (QLoRA: NF4, double "
        "quantization, bf16 compute) or 8bit",
        choices=("none", "4bit", "8bit"),
    ),
    "max_length": OptionSpec(int, 2048, "tokens per example; longer ones are truncated"),
    "gradient_accumulation_steps": OptionSpec(
        int, 1, "split each batch into this many accumulation steps (batch_size stays the same)"
    ),
    "warmup_ratio": OptionSpec(float, 0.03, "fraction of the steps spent warming up"),
    "weight_decay": OptionSpec(float, 0.0, "AdamW weight decay"),
    "lr_scheduler": OptionSpec(
        str,
        "linear",
        "learning-rate schedule after warmup",
        choices=("linear", "cosine", "constant", "constant_with_warmup"),
    ),
    "max_grad_norm": OptionSpec(float, 1.0, "gradient clipping (0 turns it off)"),
    "save_steps": OptionSpec(int, 0, "save a checkpoint every N steps (0: at every epoch end)"),
    "save_total_limit": OptionSpec(
        int, 0, "keep only the newest N checkpoints, removing older ones (0: keep all)"
    ),
    "save_optimizer_state": OptionSpec(
        bool,
        True,
        "keep optimizer, scheduler and RNG state in each checkpoint, so a resume continues "
        "exactly; false: checkpoints about 3x smaller, and a resume restarts the optimizer",
    ),
    "eval_steps": OptionSpec(
        int, 0, "compute the validation loss every N steps (0: about 10 times per run)"
    ),
    "logging_steps": OptionSpec(int, 0, "report metrics every N steps (0: about 100 reports)"),
    "max_steps": OptionSpec(int, 0, "stop after N optimizer steps (0: n_epochs decides)"),
    "batching": OptionSpec(
        str,
        "micro",
        "micro: compute each batch as length-sorted micro-batches (almost no padding, same "
        "gradient); pad: pad the batch to its longest example",
        choices=("micro", "pad"),
    ),
    "micro_batch_tokens": OptionSpec(
        int, 4096, "most tokens (padding included) in one micro-batch; bounds activation memory"
    ),
    "activation_checkpointing": OptionSpec(
        bool, False, "recompute activations in the backward pass (less memory, ~30% slower)"
    ),
    "bf16": OptionSpec(
        str,
        "auto",
        "auto: bf16 on a GPU that supports it, else fp32",
        choices=("auto", "true", "false"),
    ),
    "merge": OptionSpec(
        bool, False, "also save the base model with the adapter merged in, to merged/"
    ),
    "export_profile": OptionSpec(
        str,
        "none",
        "vllm: train only what vLLM (and Ollama/llama.cpp) load as an adapter: LoRA on linear "
        f"layers, no modules_to_save, lora_r <= {EXPORT_MAX_RANK}",
        choices=("none", "vllm"),
    ),
    "nproc_per_node": OptionSpec(
        int,
        None,
        "training processes (torchrun), e.g. one per GPU; default 1, or one per core for a "
        "small model on a CPU-only machine",
    ),
    "distributed": OptionSpec(
        str, "ddp", "how several processes share the work", choices=("ddp", "fsdp")
    ),
    "seed": OptionSpec(int, None, "random seed (default: the job's seed, else 0)"),
    "trust_remote_code": OptionSpec(bool, False, "allow model code from the hub (security risk)"),
    "chat_template_kwargs": OptionSpec(
        str,
        "",
        'chat template switches as a JSON object, e.g. {"enable_thinking": false}',
    ),
}


OPTION_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    # name: (minimum, maximum, maximum excluded)
    "lora_r": (1, None, False),
    "lora_alpha": (1, None, False),
    "lora_dropout": (0, 1, True),
    "max_length": (1, None, False),
    "gradient_accumulation_steps": (1, None, False),
    "warmup_ratio": (0, 1, True),
    "weight_decay": (0, None, False),
    "max_grad_norm": (0, None, False),
    "save_steps": (0, None, False),
    "save_total_limit": (0, None, False),
    "eval_steps": (0, None, False),
    "logging_steps": (0, None, False),
    "max_steps": (0, None, False),
    "micro_batch_tokens": (1, None, False),
    "nproc_per_node": (1, None, False),
    "seed": (0, 2**32 - 1, False),
}
"""Allowed values of the numeric options, checked when a job is validated."""


def check_ranges(options: Mapping[str, Any]) -> None:
    """Raise ``InvalidArgumentError`` for the first option outside ``OPTION_RANGES`` (then
    for options that break ``export_profile``)."""
    for name, (low, high, high_open) in OPTION_RANGES.items():
        value = options.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        too_low = low is not None and value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            if high is None:
                allowed = f">= {low:g}"
            else:
                allowed = f"from {low:g} to {high:g}" + (" (excluded)" if high_open else "")
            spec = OPTION_SPECS[name]
            raise InvalidArgumentError(
                f"option {name}={value!r} is out of range: it must be {allowed}",
                hint=f"{name}: {spec.help} (default {spec.default!r})",
                provider="local",
            )
    check_export_profile(options)


def check_export_profile(options: Mapping[str, Any]) -> None:
    """``export_profile=vllm``: refuse the options that make an adapter unservable by vLLM."""
    if options.get("export_profile") != "vllm":
        return
    problems = []
    if options.get("modules_to_save"):
        problems.append("modules_to_save must be empty (vLLM loads no fully trained modules)")
    if int(options.get("lora_r") or OPTION_SPECS["lora_r"].default) > EXPORT_MAX_RANK:
        problems.append(f"lora_r must be at most {EXPORT_MAX_RANK}")
    embedded = {"embed_tokens", "lm_head"} & set(options.get("target_modules") or ())
    if embedded:
        problems.append(f"target_modules must be linear layers, not {', '.join(sorted(embedded))}")
    if problems:
        raise InvalidArgumentError(
            "export_profile=vllm: " + "; ".join(problems),
            hint="drop the option that conflicts, or train with export_profile=none and merge "
            "at export time",
            provider="local",
        )


def local_options(options: Mapping[str, Any] | None) -> ProviderOptions:
    """Every local option, coerced, defaults filled in: the one place that does it (a
    ``ProviderOptions`` from spec validation is passed through as it is)."""
    if isinstance(options, ProviderOptions):
        return options
    return resolve_options("local", OPTION_SPECS, options or {})


def auto_epochs(n_examples: int) -> int:
    """Epochs for ``n_epochs="auto"`` (see the module docstring)."""
    n = max(1, n_examples)
    if 3 * n < 100:
        return min(25, math.ceil(100 / n))
    if 3 * n > 25_000:
        return max(1, 25_000 // n)
    return 3


def auto_batch_size(n_examples: int) -> int:
    """Batch size for ``batch_size="auto"`` before rounding for processes (module docstring)."""
    quotient = max(1, n_examples) / 32
    size = 1
    while size * 2 <= quotient and size < 16:
        size *= 2
    return size


def resolve_auto(
    n_examples: int,
    hyperparameters: Hyperparameters,
    *,
    processes: int = 1,
    gradient_accumulation_steps: int = 1,
    method: str = "supervised",
) -> dict[str, Any]:
    """Numbers for every hyperparameter, ``"auto"`` resolved by the rule in the module docstring.

    Returns ``n_epochs``, ``batch_size``, ``learning_rate_multiplier``, ``learning_rate`` and,
    for DPO, ``beta``. An explicit ``batch_size`` is kept as given (``train`` rejects one that
    ``processes × gradient_accumulation_steps`` does not divide).
    """
    hp = hyperparameters
    n_epochs = auto_epochs(n_examples) if hp.n_epochs == AUTO else int(hp.n_epochs)
    if hp.batch_size == AUTO:
        unit = max(1, processes) * max(1, gradient_accumulation_steps)
        batch_size = math.ceil(auto_batch_size(n_examples) / unit) * unit
    else:
        batch_size = int(hp.batch_size)
    multiplier = 1.0 if hp.learning_rate_multiplier == AUTO else float(hp.learning_rate_multiplier)
    resolved: dict[str, Any] = {
        "n_epochs": n_epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": multiplier,
        "learning_rate": BASE_LEARNING_RATE * multiplier,
    }
    if method == "dpo":
        resolved["beta"] = DEFAULT_BETA if hp.beta in (None, AUTO) else float(hp.beta)
    return resolved
