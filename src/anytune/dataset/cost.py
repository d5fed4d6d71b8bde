"""The training cost estimate: tokens x epochs x the provider's price."""

from __future__ import annotations

from anytune.dataset.report import CostEstimate, FileStats
from anytune.provider import DatasetRules


def estimate_cost(
    stats: FileStats,
    rules: DatasetRules | None,
    n_epochs: int | str,
    exact: bool,
    provider: str | None,
) -> tuple[CostEstimate | None, str | None]:
    """Billed (or, without a price, trained) tokens for ``stats``' examples and epochs.

    Returns the estimate, or None and a note saying why there is none (``n_epochs="auto"``
    without the provider's ``auto_epochs`` rule). Tokens per epoch are
    ``Σ min(limit, tokens)``: longer examples are truncated, so they cost the limit.
    """
    examples = stats.counted_examples
    if n_epochs == "auto":
        if rules is None or rules.auto_epochs is None:
            return None, (
                "n_epochs auto: the provider chooses the epochs; give --n-epochs N for a "
                "billed-token total"
                if rules is not None
                else None
            )
        epochs = rules.auto_epochs(examples)
        how = f"auto: {provider or 'the provider'} uses {epochs} for {examples:,} examples"
    else:
        assert isinstance(n_epochs, int)
        epochs, how = n_epochs, "as requested"
    billed = stats.billable_tokens * epochs
    price = rules.price if rules is not None else None
    return (
        CostEstimate(
            epochs=epochs,
            epochs_how=how,
            tokens_per_epoch=stats.billable_tokens,
            billed_tokens=billed,
            tokens_exact=exact,
            usd=billed * price.usd_per_million_tokens / 1e6 if price else None,
            usd_per_million_tokens=price.usd_per_million_tokens if price else None,
            price_as_of=price.as_of if price else None,
            price_source=price.source if price else "",
        ),
        None,
    )


__all__ = ["estimate_cost"]
