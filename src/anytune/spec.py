"""A job spec after validation, and the rules every provider shares to get there.

``Provider.validate_spec`` is the one owner of these rules (``check_common``): the method is
one the provider declares, the hyperparameters are within the provider's declared
``HyperparameterLimits``, ``beta`` comes with DPO, and the options are known, coerced and
completed with their defaults. What it returns, a ``ValidatedSpec``, is what a provider's
``submit_job`` receives: typed options, and no need to check anything again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anytune.errors import InvalidArgumentError
from anytune.options import OptionSpec, ProviderOptions, resolve_options
from anytune.types import AUTO, Hyperparameters, JobSpec, _spec_fields


@dataclass(frozen=True)
class Limit:
    """An allowed range: ``minimum`` (excluded when ``exclusive_min``) to ``maximum``."""

    minimum: float
    maximum: float | None = None
    exclusive_min: bool = False

    def contains(self, value: float) -> bool:
        low_ok = value > self.minimum if self.exclusive_min else value >= self.minimum
        return low_ok and (self.maximum is None or value <= self.maximum)

    def describe(self) -> str:
        """E.g. ">= 1 and <= 50" or "> 0"."""
        low = f"> {self.minimum:g}" if self.exclusive_min else f">= {self.minimum:g}"
        return low if self.maximum is None else f"{low} and <= {self.maximum:g}"


@dataclass(frozen=True)
class HyperparameterLimits:
    """The ranges a provider accepts; the defaults are OpenAI's."""

    n_epochs: Limit = Limit(1, 50)
    batch_size: Limit = Limit(1, 256)
    learning_rate_multiplier: Limit = Limit(0, None, exclusive_min=True)
    beta: Limit = Limit(0, 2, exclusive_min=True)

    def check(self, hyperparameters: Hyperparameters, *, provider: str | None = None) -> None:
        """Raise ``InvalidArgumentError`` for the first value out of range, naming the range."""
        for name in ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"):
            value = getattr(hyperparameters, name)
            if value is None or value == AUTO:
                continue
            limit: Limit = getattr(self, name)
            if not limit.contains(value):
                where = f" on {provider}" if provider else ""
                raise InvalidArgumentError(
                    f"{name} must be {limit.describe()} (or 'auto'){where}, got {value!r}",
                    provider=provider,
                )


@dataclass(frozen=True)
class ValidatedSpec(JobSpec):
    """A ``JobSpec`` that ``Provider.validate_spec`` checked for the provider ``provider``.

    ``options`` holds every option the provider declares, coerced, defaults filled in
    (``options.explicit`` names those the user set). Build one with ``validate_spec`` (or
    ``Provider.load_spec`` for a stored one), not by hand: ``create_job`` trusts it.
    """

    options: ProviderOptions = field(default_factory=lambda: ProviderOptions({}, {}, frozenset()))
    provider: str = ""
    files_checked: bool = False
    """Whether the provider's ``check_files`` ran (``validate_spec(..., check_files=True)``)."""

    def to_dict(self) -> dict[str, Any]:
        """For storage: every option (defaults included), and which ones the user set."""
        data = super().to_dict()
        data["explicit_options"] = sorted(self.options.explicit)
        return data


def check_common(
    spec: JobSpec,
    *,
    provider: str,
    methods: frozenset[str],
    limits: HyperparameterLimits,
    option_specs: Mapping[str, OptionSpec],
) -> ValidatedSpec:
    """The rules every provider shares (see the module docstring)."""
    if spec.method not in methods:
        raise InvalidArgumentError(
            f"provider {provider!r} does not support method {spec.method!r}",
            hint=f"supported methods: {', '.join(sorted(methods))}",
            provider=provider,
        )
    hp = spec.hyperparameters
    if hp.beta is not None and spec.method != "dpo":
        raise InvalidArgumentError(
            f"beta is a DPO hyperparameter, but the method is {spec.method!r}",
            hint="use method 'dpo' (--method dpo) or drop beta",
            provider=provider,
        )
    limits.check(hp, provider=provider)
    # Validating a ValidatedSpec again (e.g. after replace()) keeps what the user set.
    explicit = spec.options.explicit if isinstance(spec, ValidatedSpec) else None
    options = resolve_options(provider, option_specs, spec.options, explicit=explicit)
    return ValidatedSpec(**{**_fields(spec), "options": options, "provider": provider})


def restore(
    data: Mapping[str, Any], *, provider: str, option_specs: Mapping[str, OptionSpec]
) -> ValidatedSpec:
    """A ``ValidatedSpec`` back from ``ValidatedSpec.to_dict()`` (e.g. read from a store).

    Options are coerced again (cheap, and a stored value of an older version is caught);
    options the provider no longer declares are dropped rather than failing an old job.
    """
    fields = _spec_fields(data)
    stored = {k: v for k, v in fields["options"].items() if k in option_specs}
    explicit = data.get("explicit_options")
    options = resolve_options(
        provider,
        option_specs,
        stored,
        explicit=frozenset(explicit) & frozenset(option_specs) if explicit is not None else None,
    )
    fields["options"] = options
    return ValidatedSpec(**fields, provider=provider, files_checked=True)


def _fields(spec: JobSpec) -> dict[str, Any]:
    return {
        "model": spec.model,
        "training_file": spec.training_file,
        "validation_file": spec.validation_file,
        "method": spec.method,
        "hyperparameters": spec.hyperparameters,
        "suffix": spec.suffix,
        "seed": spec.seed,
        "metadata": dict(spec.metadata),
        "integrations": tuple(spec.integrations),
    }


__all__ = ["HyperparameterLimits", "Limit", "ValidatedSpec", "check_common", "restore"]
