"""Together's rules for a training file, as ``anytune validate -p together -m M`` applies them
offline: Together's minimum example count, the model's longest training sequence (SFT or
DPO), a labelled token estimate (Together tokenizes with the model's own tokenizer, which
anytune does not load), the price where Together has published one for the model, method
and LoRA/full training (otherwise the estimate says it is unavailable), and
``n_epochs="auto"`` resolved as the API's default (1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anytune.provider import DatasetRules, Price
from anytune_together import catalog

METHODS = frozenset({"supervised", "dpo"})


def auto_epochs(examples: int) -> int:
    """Together's documented default: one epoch, whatever the file's size."""
    return 1


def dataset_rules(
    model: str | None, method: str, options: Mapping[str, Any] | None = None
) -> DatasetRules:
    info = catalog.lookup(model) if model else None
    lora = bool((options or {}).get("lora", True))
    notes = [
        "tokens are an estimate (UTF-8 bytes / 4): Together counts them with the model's own "
        "tokenizer after upload, and bills (n_epochs x training + n_evals x validation) tokens"
    ]
    price = None
    max_tokens = None
    if info is None:
        notes.append(
            f"no sequence limit or price known for {model or 'an unnamed model'}; models in "
            f"anytune's table (read {catalog.AS_OF} from {catalog.MODELS_SOURCE}): "
            f"{', '.join(catalog.known_models())}"
        )
    else:
        max_tokens = info.max_seq_length_dpo if method == "dpo" else info.max_seq_length_sft
        usd = catalog.price(info, method, lora)
        kind = f"{'LoRA' if lora else 'full'} {'DPO' if method == 'dpo' else 'SFT'}"
        if usd is None:
            notes.append(
                f"cost estimate unavailable: Together has not published a {kind} price for "
                f"{info.name} that anytune could verify ({catalog.AS_OF}); Together estimates "
                "the job's price itself before it runs (POST /v1/fine-tunes/estimate-price)"
            )
        else:
            price = Price(usd, as_of=catalog.PRICES_PUBLISHED, source=catalog.PRICES_SOURCE)
            notes.append(f"{kind} price published by Together on {catalog.PRICES_PUBLISHED}")
    return DatasetRules(
        min_examples=catalog.MIN_EXAMPLES,
        max_tokens_per_example=max_tokens,
        token_counter=None,
        price=price,
        methods=METHODS,
        auto_epochs=auto_epochs,
        notes=tuple(notes),
    )
