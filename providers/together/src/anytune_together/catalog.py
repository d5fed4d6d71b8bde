"""What Together publishes per fine-tunable base model: the longest training sequence (SFT and
DPO), the batch sizes, the largest LoRA rank, whether full training is offered, and the LoRA
price where Together has published one. The one place these numbers live;
``rules.dataset_rules``, ``_spec.check_spec`` and ``provider.hyperparameter_limits_for`` read
them. They change: update the table and the dates, not code.

Sources, read on ``AS_OF`` (2026-12-01) from stored copies of the published pages:

- ``MODELS_SOURCE``: the supported-models page, "LoRA fine-tuning" and "Full fine-tuning"
  tables (context SFT/DPO, max batch SFT/DPO, min batch, max LoRA rank). Text models only:
  the ``-VLM`` rows train on images, which anytune's chat files do not carry.
- ``PRICES_SOURCE``: Together's blog post of 2026-09-11, which lists new LoRA prices (USD per
  million processed tokens, SFT and DPO) for five models and says that prices dropped "for
  most of the models we support". The old per-size-bracket table (LoRA SFT 0.48 / 1.50 /
  2.90, DPO 1.20 / 3.75 / 7.25, full training 0.54 / 1.65 / 3.20 and 1.35 / 4.12 / 8.00)
  is therefore no longer the price, and the full table on https://www.together.ai/pricing
  could not be read from any stored copy. So: a LoRA price only where that post gives one,
  no full-training price at all, and ``validate`` says the estimate is unavailable rather
  than guess (Together itself estimates a job's price before it runs:
  ``POST /v1/fine-tunes/estimate-price``).

Together bills total tokens processed: ``n_epochs x training tokens + n_evals x validation
tokens``. The live limits of a model are ``GET /v1/fine-tunes/models/limits?model_name=M``.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-12-01"
"""When the sources below were read."""
MODELS_SOURCE = "https://docs.together.ai/docs/fine-tuning/supported-models"
PRICES_SOURCE = (
    "https://www.together.ai/blog/"
    "together-ai-expands-fine-tuning-service-with-more-models-live-metrics-and-finer-controls"
)
PRICES_PUBLISHED = "2026-09-11"

MIN_EXAMPLES = 1
"""Together's own minimum (``together.lib.constants.MIN_SAMPLES`` in the SDK, 3.1.1)."""
BASE_LEARNING_RATE = 1e-5
"""The SDK's default ``learning_rate`` (``fine_tuning.create``, 3.1.1); anytune's
``learning_rate_multiplier`` scales it."""
MAX_SUFFIX = 40
"""The SDK documents ``suffix`` as "up to 40 characters" (3.1.1)."""
MAX_EPOCHS = 20
"""Unverified: anytune's own bound, not found in Together's published pages."""
MAX_BATCH_SIZE = 1024
"""Unverified bound for models outside the table (the table's models use their own)."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    max_seq_length_sft: int
    max_seq_length_dpo: int
    max_batch: int
    """The larger of the LoRA and full-training "Max batch" columns (SFT and DPO agree)."""
    min_batch: int
    """The smaller of the LoRA and full-training "Min batch" columns."""
    max_lora_rank: int
    full_training: bool = False
    lora_price: tuple[float, float] | None = None
    """USD per million processed tokens, (SFT, DPO), from ``PRICES_SOURCE``; None: unpublished."""


def _m(
    name: str,
    sft: int,
    dpo: int,
    batch: int,
    rank: int = 64,
    *,
    full_batch: int | None = None,
    price: tuple[float, float] | None = None,
) -> ModelInfo:
    sizes = (batch,) if full_batch is None else (batch, full_batch)
    return ModelInfo(
        name, sft, dpo, max(sizes), min(sizes), rank, full_batch is not None, lora_price=price
    )


# (name, context SFT, context DPO, LoRA batch (max = min in every row), max LoRA rank,
#  full-training batch where full training is offered, LoRA price (SFT, DPO) where published)
MODELS: tuple[ModelInfo, ...] = (
    _m("deepseek-ai/DeepSeek-V4-Flash", 131_072, 32_768, 1),
    _m("deepseek-ai/DeepSeek-V3.1", 65_536, 32_768, 2, 16),
    _m("nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16", 65_536, 32_768, 8),
    _m("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16", 49_152, 24_576, 4),
    _m("Qwen/Qwen3.5-397B-A17B", 32_768, 16_384, 16),
    _m("Qwen/Qwen3.5-122B-A10B", 65_536, 32_768, 16),
    _m("Qwen/Qwen3.5-35B-A3B", 65_536, 32_768, 8),
    _m("Qwen/Qwen3.5-35B-A3B-Base", 65_536, 32_768, 8),
    _m("Qwen/Qwen3.5-27B", 32_768, 16_384, 16, full_batch=16),
    _m("Qwen/Qwen3.5-9B", 65_536, 49_152, 8, full_batch=8, price=(0.34, 0.84)),
    _m("Qwen/Qwen3.5-4B", 131_072, 65_536, 8, full_batch=8),
    _m("Qwen/Qwen3.5-2B", 131_072, 131_072, 8, full_batch=8),
    _m("Qwen/Qwen3.5-0.8B", 131_072, 131_072, 8, full_batch=8),
    _m("Qwen/Qwen3.6-35B-A3B", 65_536, 32_768, 8),
    _m("Qwen/Qwen3.6-27B", 32_768, 16_384, 16, full_batch=16),
    _m("moonshotai/Kimi-K2.7-Code", 32_768, 16_384, 4, 16),
    _m("moonshotai/Kimi-K2.6", 32_768, 16_384, 4, 16),
    _m("zai-org/GLM-5.1", 50_688, 25_344, 1, 16),
    _m("openai/gpt-oss-20b", 131_072, 65_536, 1, price=(0.40, 1.00)),
    _m("openai/gpt-oss-120b", 65_536, 32_768, 2, price=(2.50, 6.25)),
    _m("meta-llama/Llama-4-Scout-17B-16E-Instruct", 65_536, 12_288, 8),
    _m("meta-llama/Llama-4-Maverick-17B-128E-Instruct", 16_384, 24_576, 16),
    _m("meta-llama/Llama-3.3-70B-Instruct-Reference", 24_576, 12_288, 8, full_batch=32),
    _m("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 131_072, 65_536, 8, full_batch=8),
    _m("google/gemma-4-31B-it", 49_152, 24_576, 4, full_batch=8, price=(1.05, 2.62)),
    _m("google/gemma-4-26B-A4B-it", 49_152, 24_576, 4),
    _m("mistralai/Mixtral-8x7B-Instruct-v0.1", 32_768, 16_384, 8, full_batch=16),
)


def lookup(model: str) -> ModelInfo | None:
    """The table entry for ``model`` (exact name, case-insensitive), if any."""
    lowered = model.lower()
    for info in MODELS:
        if info.name.lower() == lowered:
            return info
    return None


def price(info: ModelInfo, method: str, lora: bool) -> float | None:
    """USD per million processed tokens, or None where Together's price is not published in
    the sources above (every full-training price; LoRA for most models)."""
    if not lora or info.lora_price is None:
        return None
    return info.lora_price[1 if method == "dpo" else 0]


def known_models() -> list[str]:
    return [m.name for m in MODELS]
