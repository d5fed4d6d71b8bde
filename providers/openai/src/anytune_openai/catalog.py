"""What OpenAI offers per fine-tunable base model: the per-example token limit and the training
price. The one place these numbers live; ``dataset_rules`` reads them, no logic repeats them.

Prices are USD per million trained tokens, read from https://openai.com/api/pricing/ on
``AS_OF``. They change: update the table (and the date) rather than code.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-11"
"""When the table below was read."""

SOURCE = "https://openai.com/api/pricing/"


@dataclass(frozen=True)
class ModelInfo:
    """One base-model family."""

    family: str
    """Model name prefix, e.g. "gpt-4o-mini" (matches gpt-4o-mini-2024-07-18)."""
    max_tokens_per_example: int
    training_usd_per_million_tokens: float
    encoding: str = "o200k_base"


# Longest prefix wins, so "gpt-4o-mini" is matched before "gpt-4o".
MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("gpt-4.1-nano", 32_768, 1.50),
    ModelInfo("gpt-4.1-mini", 65_536, 5.00),
    ModelInfo("gpt-4.1", 65_536, 25.00),
    ModelInfo("gpt-4o-mini", 65_536, 3.00),
    ModelInfo("gpt-4o", 65_536, 25.00),
)


def base_model(model: str) -> str:
    """The base model of ``model``; a fine-tuned id ``ft:BASE:org:suffix:id`` gives ``BASE``."""
    if model.startswith("ft:"):
        parts = model.split(":")
        return parts[1] if len(parts) > 1 else model
    return model


def lookup(model: str) -> ModelInfo | None:
    """The table entry for ``model`` (a dated name, a family name or an ``ft:`` id), if any."""
    name = base_model(model)
    matches = [m for m in MODELS if name == m.family or name.startswith(m.family + "-")]
    return max(matches, key=lambda m: len(m.family)) if matches else None


def known_families() -> list[str]:
    return [m.family for m in MODELS]
