"""OpenAI's rules for a training file, as ``anytune validate --provider openai --model M``
applies them offline: at least 10 examples, the model's per-example token limit, o200k_base
token counts (or a labelled estimate), the dated training price and "auto" epochs."""

from __future__ import annotations

from anytune.provider import DatasetRules, Price
from anytune_openai import catalog
from anytune_openai.tokens import auto_epochs, token_counter

MIN_EXAMPLES = 10
METHODS = frozenset({"supervised", "dpo"})


def dataset_rules(
    provider: str, model: str | None, method: str, *, priced: bool = True
) -> DatasetRules:
    """The rules for ``model``; ``priced=False`` where OpenAI's price table does not apply."""
    info = catalog.lookup(model) if model else None
    counter = token_counter(info.encoding if info else "o200k_base")
    price = None
    if info is not None and priced:
        price = Price(
            info.training_usd_per_million_tokens, as_of=catalog.AS_OF, source=catalog.SOURCE
        )
    notes: list[str] = []
    if not counter.exact:
        notes.append(
            "for exact o200k_base counts, point TIKTOKEN_CACHE_DIR at a directory holding "
            "tiktoken's cached encoding (anytune never downloads it)"
        )
    if info is None:
        notes.append(
            f"no token limit or price known for {model or 'an unnamed model'}; known base "
            f"models: {', '.join(catalog.known_families())} (table of {catalog.AS_OF})"
        )
    elif price is None:
        notes.append(f"training prices on {provider} are not in anytune's table")
    if method == "dpo" and price is not None:
        notes.append("DPO is priced here like supervised training; check OpenAI's pricing")
    return DatasetRules(
        min_examples=MIN_EXAMPLES,
        max_tokens_per_example=info.max_tokens_per_example if info else None,
        token_counter=counter,
        price=price,
        methods=METHODS,
        auto_epochs=auto_epochs,
        notes=tuple(notes),
    )
