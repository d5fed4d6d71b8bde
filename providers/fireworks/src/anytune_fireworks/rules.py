"""Fireworks' rules for a training file, as ``anytune validate -p fireworks -m M`` applies
them offline: at least 3 examples, the model's context length (or ``-o max_length``), a
labelled token estimate (Fireworks tokenizes with the model's own tokenizer), the dated price
for the model's size bracket and method, and ``n_epochs="auto"`` as Fireworks' default (1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anytune.provider import DatasetRules, Price
from anytune_fireworks import catalog

METHODS = frozenset({"supervised", "dpo"})


def auto_epochs(examples: int) -> int:
    """Fireworks' documented default: one epoch."""
    return catalog.DEFAULT_EPOCHS


def dataset_rules(
    model: str | None, method: str, options: Mapping[str, Any] | None = None
) -> DatasetRules:
    info = catalog.lookup(model) if model else None
    notes = [
        "tokens are an estimate (UTF-8 bytes / 4): Fireworks counts them with the model's "
        "own tokenizer"
    ]
    max_length = (options or {}).get("max_length")
    price = None
    limit: int | None = None
    if info is None:
        notes.append(
            f"no context length or price known for {model or 'an unnamed model'}; models in "
            f"anytune's table ({catalog.AS_OF}): {', '.join(catalog.known_models())}"
        )
    else:
        price = Price(
            catalog.PRICES["dpo" if method == "dpo" else "supervised"][info.bracket],
            as_of=catalog.AS_OF,
            source=catalog.SOURCE,
        )
        limit = min(info.max_context, catalog.DEFAULT_CONTEXT)
        notes.append(f"price bracket {catalog.BRACKETS[info.bracket]}")
    if isinstance(max_length, int) and max_length > 0:
        limit = max_length
    elif info is not None:
        notes.append(
            f"examples longer than {limit:,} tokens (the default context) are truncated; "
            f"-o max_length=N raises it up to {info.max_context:,}"
        )
    return DatasetRules(
        min_examples=catalog.MIN_EXAMPLES,
        max_tokens_per_example=limit,
        token_counter=None,
        price=price,
        methods=METHODS,
        auto_epochs=auto_epochs,
        notes=tuple(notes),
    )
