"""What Fireworks offers per fine-tunable base model: the longest training context and the
size bracket its price depends on, and the dated price table. The one place these numbers
live; ``rules.dataset_rules`` and ``_spec.check_spec`` read them.

Fireworks bills SFT and DPO per training token (dataset tokens x epochs), by model size.
Numbers as read from https://fireworks.ai/pricing and Fireworks' fine-tuning docs on
``AS_OF``; they change: update the table and the date, not code.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-11"
SOURCE = "https://fireworks.ai/pricing"

BRACKETS = ("up to 16B", "16.1B-80B", "80B-300B", "over 300B")
PRICES: dict[str, tuple[float, float, float, float]] = {
    "supervised": (0.50, 3.00, 6.00, 10.00),
    "dpo": (1.00, 6.00, 12.00, 20.00),
}
"""USD per million training tokens, per bracket (same order as BRACKETS)."""

MIN_EXAMPLES = 3
"""Fireworks refuses a dataset with fewer examples."""
BASE_LEARNING_RATE = 1e-4
"""Fireworks' default learning rate for LoRA SFT; learning_rate_multiplier scales it."""
DEFAULT_EPOCHS = 1
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 1024
MAX_LORA_RANK = 64
DEFAULT_CONTEXT = 8192
"""The context length a job trains with unless -o max_length says otherwise."""
PUBLIC_PREFIX = "accounts/fireworks/models/"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    """The short name, as in accounts/fireworks/models/NAME."""
    max_context: int
    bracket: int


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("llama-v3p1-8b-instruct", 131_072, 0),
    ModelInfo("llama-v3p2-1b-instruct", 131_072, 0),
    ModelInfo("llama-v3p2-3b-instruct", 131_072, 0),
    ModelInfo("llama-v3p1-70b-instruct", 131_072, 1),
    ModelInfo("llama-v3p3-70b-instruct", 131_072, 1),
    ModelInfo("qwen3-8b", 40_960, 0),
    ModelInfo("qwen3-14b", 40_960, 0),
    ModelInfo("qwen3-32b", 40_960, 1),
    ModelInfo("qwen2p5-7b-instruct", 32_768, 0),
    ModelInfo("qwen2p5-72b-instruct", 32_768, 1),
    ModelInfo("mistral-7b-instruct-v0p2", 32_768, 0),
    ModelInfo("gemma-3-12b-it", 131_072, 0),
    ModelInfo("deepseek-v3", 163_840, 3),
)


def short_name(model: str) -> str:
    return model[len(PUBLIC_PREFIX) :] if model.startswith(PUBLIC_PREFIX) else model


def full_name(model: str) -> str:
    """Fireworks names base models ``accounts/OWNER/models/NAME``; a bare NAME is a public one."""
    return model if model.startswith("accounts/") else PUBLIC_PREFIX + model


def lookup(model: str) -> ModelInfo | None:
    name = short_name(model).lower()
    return next((m for m in MODELS if m.name == name), None)


def known_models() -> list[str]:
    return [m.name for m in MODELS]
