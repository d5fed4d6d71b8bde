"""Fireworks' rules for a training file, as ``anytune validate -p fireworks -m M`` applies
them: at least 3 examples; as the per-example limit ``-o max_length``, else the model's training
context (``_shapes``: Fireworks' training-shape registry when a key is set, else the published
figure in ``catalog``); a labelled token estimate (Fireworks tokenizes with the model's own
tokenizer); the dated price for the model's size bracket where one is published (otherwise the
estimate says it is unavailable); and ``n_epochs="auto"`` as 1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anytune.provider import DatasetRules, Price
from anytune_fireworks import _shapes, catalog

METHODS = frozenset({"supervised", "dpo"})


def auto_epochs(examples: int) -> int:
    """One epoch (``catalog.DEFAULT_EPOCHS``; Fireworks' own default is unverified)."""
    return catalog.DEFAULT_EPOCHS


def dataset_rules(
    model: str | None,
    method: str,
    options: Mapping[str, Any] | None = None,
    context: _shapes.Context | None = None,
) -> DatasetRules:
    """``context``: the model's training context (``_shapes.lookup``); None: the published
    figure, if any."""
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
            f"no price known for {model or 'an unnamed model'}; models in anytune's table "
            f"(read {catalog.AS_OF}): {', '.join(catalog.known_models())}"
        )
    else:
        usd = catalog.price(info, method)
        if usd is None:
            notes.append(
                f"cost estimate unavailable: no {'DPO' if method == 'dpo' else 'SFT'} price "
                f"for {info.name} is published in the source anytune could read "
                f"({catalog.SOURCE}, read {catalog.AS_OF})"
            )
        else:
            price = Price(usd, as_of=catalog.AS_OF, source=catalog.SOURCE)
            notes.append(f"price bracket {catalog.BRACKETS[info.bracket or 0]}")
    if isinstance(max_length, int) and max_length > 0:
        limit = max_length  # over the model's context: refused by ``_spec.check_spec``
    elif model:
        context = context or _shapes.published(model)
        limit = context.tokens
        notes.append(context.source)
    else:
        notes.append("no per-example token limit checked: no model named (-m MODEL)")
    return DatasetRules(
        min_examples=catalog.MIN_EXAMPLES,
        max_tokens_per_example=limit,
        token_counter=None,
        price=price,
        methods=METHODS,
        auto_epochs=auto_epochs,
        notes=tuple(notes),
    )
