"""What anytune knows of Fireworks' fine-tunable base models: their size bracket (from the
parameter count in the model's name) and the dated price per bracket. The one place these
numbers live; ``rules.dataset_rules`` and ``_spec.check_spec`` read them. They change: update
the table and the dates, not code.

Sources, read on ``AS_OF`` (2026-12-01) from stored copies of the published pages:

- ``SOURCE`` (https://fireworks.ai/pricing, an undated stored copy): "$ / 1M tokens in
  training": models up to 16B parameters $0.50, 16.1B - 80B $3.00, billed on "the total
  number of tokens in your fine-tuning dataset (dataset size * number of epochs)". That copy
  names no DPO price and no bracket above 80B, so those are unverified: a DPO job, or a larger
  model, gets no cost estimate (``validate`` says so) rather than a guess.
- The models: families Fireworks names as fine-tunable on
  https://docs.fireworks.ai/fine-tuning/supervised-fine-tuning ("Llama 3 models, Qwen 2/2.5
  models, Qwen 3 non-MoE models, DeepSeek V3/R1 models, Gemma 3 models and Phi 3/4 models");
  Mistral 7B is not among them and was dropped.
- Context lengths: Fireworks publishes the "Max supported context length" per base model at
  ``CONTEXT_SOURCE``, a table generated from its training-shape registry. The stored copy
  anytune could read shows its first rows only: gemma-4-26b-a4b-it and gemma-4-31b-it 256K
  (262,144 tokens), glm-5p1 200K (200,000 tokens); those are in ``MODELS``. For every model,
  ``validate`` and ``create`` read the same registry live when FIREWORKS_API_KEY is set
  (``_shapes``); ``max_context`` here is the offline fallback, None where not published.

Unverified (anytune's own bounds, not found in Fireworks' published pages): ``MIN_EXAMPLES``,
``BASE_LEARNING_RATE``, ``DEFAULT_EPOCHS``, ``MAX_EPOCHS``, ``MAX_BATCH_SIZE``,
``MAX_LORA_RANK``. The README's Fireworks section lists them as such.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-12-01"
"""When the sources were read."""
SOURCE = "https://fireworks.ai/pricing"
CONTEXT_SOURCE = "https://docs.fireworks.ai/fine-tuning/managed-finetuning-intro"

BRACKETS = ("up to 16B", "16.1B-80B")
PRICES: dict[str, tuple[float, float]] = {"supervised": (0.50, 3.00)}
"""USD per million training tokens, per bracket (same order as BRACKETS); a method missing
here (DPO) has no verified price."""

MIN_EXAMPLES = 3
"""Unverified."""
BASE_LEARNING_RATE = 1e-4
"""Unverified: the learning rate ``learning_rate_multiplier`` scales (firectl's documented
example passes ``--learning-rate 0.0001``)."""
DEFAULT_EPOCHS = 1
"""Unverified: what ``n_epochs="auto"`` sends."""
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 1024
MAX_LORA_RANK = 64
PUBLIC_PREFIX = "accounts/fireworks/models/"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    """The short name, as in accounts/fireworks/models/NAME."""
    bracket: int | None
    """Index into ``BRACKETS`` from the parameter count; None: above every priced bracket, or
    which bracket applies is not published."""
    max_context: int | None = None
    """The largest training context Fireworks publishes for the model (the offline fallback
    for the live registry, see ``_shapes``); None: not published."""


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("llama-v3p1-8b-instruct", 0),
    ModelInfo("llama-v3p2-1b-instruct", 0),
    ModelInfo("llama-v3p2-3b-instruct", 0),
    ModelInfo("llama-v3p1-70b-instruct", 1),
    ModelInfo("llama-v3p3-70b-instruct", 1),
    ModelInfo("qwen3-8b", 0),
    ModelInfo("qwen3-14b", 0),
    ModelInfo("qwen3-32b", 1),
    ModelInfo("qwen2p5-7b-instruct", 0),
    ModelInfo("qwen2p5-72b-instruct", 1),
    ModelInfo("gemma-3-12b-it", 0),
    ModelInfo("deepseek-v3", None),  # 671B: no published bracket in the source
    ModelInfo("gemma-4-31b-it", 1, max_context=262_144),
    # Mixture-of-experts: which bracket (total or active parameters) is not published.
    ModelInfo("gemma-4-26b-a4b-it", None, max_context=262_144),
    ModelInfo("glm-5p1", None, max_context=200_000),
)


def short_name(model: str) -> str:
    return model[len(PUBLIC_PREFIX) :] if model.startswith(PUBLIC_PREFIX) else model


def full_name(model: str) -> str:
    """Fireworks names base models ``accounts/OWNER/models/NAME``; a bare NAME is a public one."""
    return model if model.startswith("accounts/") else PUBLIC_PREFIX + model


def lookup(model: str) -> ModelInfo | None:
    name = short_name(model).lower()
    return next((m for m in MODELS if m.name == name), None)


def price(info: ModelInfo, method: str) -> float | None:
    """USD per million training tokens, or None where the source publishes none."""
    by_bracket = PRICES.get("dpo" if method == "dpo" else "supervised")
    if by_bracket is None or info.bracket is None:
        return None
    return by_bracket[info.bracket]


def known_models() -> list[str]:
    return [m.name for m in MODELS]
