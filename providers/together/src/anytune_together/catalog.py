"""What Together offers per fine-tunable base model: the longest training sequence (SFT and
DPO), the size bracket its price depends on, and the price table. The one place these numbers
live; ``rules.dataset_rules`` and ``provider.check_spec`` read them.

Together prices by total tokens processed (``n_epochs x training tokens + n_evals x
validation tokens``), per model-size bracket, method (SFT / DPO) and LoRA or full training.
Numbers as read from https://www.together.ai/pricing and Together's supported-models table on
``AS_OF``; they change: update the table and the date, not code. The live limits of a model are
``GET /v1/fine-tunes/models/limits?model_name=M`` (the SDK's ``fine_tuning.model_limits``).
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-11"
SOURCE = "https://www.together.ai/pricing"

BRACKETS = ("up to 16B", "17B-69B", "70B-100B")

# USD per million processed tokens: (method, lora) -> price per bracket (same order).
PRICES: dict[tuple[str, bool], tuple[float, float, float]] = {
    ("supervised", True): (0.48, 1.50, 2.90),
    ("supervised", False): (0.54, 1.65, 3.20),
    ("dpo", True): (1.20, 3.75, 7.25),
    ("dpo", False): (1.35, 4.12, 8.00),
}

MIN_EXAMPLES = 1
"""Together's own minimum (``together.lib.constants.MIN_SAMPLES``)."""
BASE_LEARNING_RATE = 1e-5
"""The API's default ``learning_rate``; anytune's ``learning_rate_multiplier`` scales it."""
MAX_SUFFIX = 40
MAX_EPOCHS = 20
MAX_BATCH_SIZE = 1024


@dataclass(frozen=True)
class ModelInfo:
    name: str
    max_seq_length_sft: int
    max_seq_length_dpo: int
    bracket: int
    """Index into ``BRACKETS``."""
    full_training: bool = True


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 131_072, 65_536, 0),
    ModelInfo("meta-llama/Meta-Llama-3.1-8B-Reference", 131_072, 65_536, 0),
    ModelInfo("meta-llama/Llama-3.2-1B-Instruct", 131_072, 65_536, 0),
    ModelInfo("meta-llama/Llama-3.2-3B-Instruct", 131_072, 65_536, 0),
    ModelInfo("meta-llama/Llama-3.3-70B-Instruct-Reference", 131_072, 24_576, 2),
    ModelInfo("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", 131_072, 24_576, 2),
    ModelInfo("Qwen/Qwen3-8B", 32_768, 16_384, 0),
    ModelInfo("Qwen/Qwen3-14B", 32_768, 16_384, 0),
    ModelInfo("Qwen/Qwen3-32B", 32_768, 16_384, 1),
    ModelInfo("Qwen/Qwen2.5-7B-Instruct", 32_768, 16_384, 0),
    ModelInfo("Qwen/Qwen2.5-72B-Instruct", 32_768, 12_288, 2),
    ModelInfo("mistralai/Mistral-7B-Instruct-v0.2", 32_768, 16_384, 0),
    ModelInfo("google/gemma-3-12b-it", 16_384, 8_192, 0),
    ModelInfo("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 24_576, 12_288, 2),
)


def lookup(model: str) -> ModelInfo | None:
    """The table entry for ``model`` (exact name, case-insensitive), if any."""
    lowered = model.lower()
    for info in MODELS:
        if info.name.lower() == lowered:
            return info
    return None


def price(info: ModelInfo, method: str, lora: bool) -> float:
    return PRICES[(method if method == "dpo" else "supervised", lora)][info.bracket]


def known_models() -> list[str]:
    return [m.name for m in MODELS]
