"""Provider options: how a provider declares them, how values are coerced, and the typed,
complete set of options a validated job carries.

``OptionSpec.coerce`` is the one place a value is parsed (command-line strings included), and
``resolve_options`` the one place unknown names are refused and defaults filled in.

>>> specs = {"lora_r": OptionSpec(int, 16, "LoRA rank"), "merge": OptionSpec(bool, False)}
>>> options = resolve_options("local", specs, {"lora_r": "8"})
>>> options.get_int("lora_r"), options.get_bool("merge"), sorted(options.explicit)
(8, False, ['lora_r'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from anytune.errors import InvalidArgumentError


@dataclass(frozen=True)
class OptionSpec:
    """One provider-specific option a job may set in ``JobSpec.options``."""

    type: type
    """bool, int, float, str, or list (a list of strings)."""
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def coerce(self, name: str, value: Any) -> Any:
        """Return ``value`` as this option's type, parsing strings from the command line."""
        try:
            value = self._convert(value)
        except (TypeError, ValueError):
            kind = {list: "comma-separated list", bool: "true/false"}.get(
                self.type, self.type.__name__
            )
            raise InvalidArgumentError(
                f"option {name}={value!r} is not a valid {kind}",
                hint=f"{name}: {self.help}" if self.help else None,
            ) from None
        if self.choices is not None and value not in self.choices:
            raise InvalidArgumentError(
                f"option {name}={value!r} is not one of {', '.join(map(str, self.choices))}"
            )
        return value

    def _convert(self, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(value)
                return lowered in {"true", "1", "yes"}
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if self.type is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if self.type is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if self.type is list:
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError(value)
        if self.type is str and not isinstance(value, str):
            raise ValueError(value)
        return value


def validate_options(
    provider: str, specs: Mapping[str, OptionSpec], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``options`` against ``specs``: unknown names and bad values are errors.

    Returns the given options coerced to their types (defaults are not filled in; see
    ``resolve_options`` for the complete set).
    """
    unknown = sorted(set(options) - set(specs))
    if unknown:
        valid = ", ".join(sorted(specs)) or "none"
        raise InvalidArgumentError(
            f"unknown option(s) for provider {provider!r}: {', '.join(unknown)}",
            hint=f"valid options for {provider}: {valid}",
            provider=provider,
        )
    return {name: specs[name].coerce(name, value) for name, value in options.items()}


class ProviderOptions(Mapping[str, Any]):
    """Every option a provider declares, coerced to its type, defaults filled in.

    A read-only mapping (``options["lora_r"]``), with typed accessors that also catch a
    misspelt name in provider code (``KeyError``) instead of silently reading ``None``.
    ``explicit`` names the options the user set.
    """

    __slots__ = ("_specs", "_values", "explicit")

    def __init__(
        self, specs: Mapping[str, OptionSpec], values: Mapping[str, Any], explicit: frozenset[str]
    ):
        self._specs = dict(specs)
        self._values = dict(values)
        self.explicit = explicit

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ProviderOptions({self._values!r})"

    def _typed(self, name: str, kind: type) -> Any:
        spec = self._specs[name]  # KeyError: the provider reads an option it never declared
        if spec.type is not kind:
            raise TypeError(f"option {name} is declared as {spec.type.__name__}, not {kind}")
        return self._values[name]

    def get_int(self, name: str) -> int | None:
        value: int | None = self._typed(name, int)
        return value

    def get_float(self, name: str) -> float | None:
        value: float | None = self._typed(name, float)
        return value

    def get_str(self, name: str) -> str | None:
        value: str | None = self._typed(name, str)
        return value

    def get_bool(self, name: str) -> bool:
        return bool(self._typed(name, bool))

    def get_list(self, name: str) -> list[str]:
        value: list[str] | None = self._typed(name, list)
        return list(value or [])

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def explicit_dict(self) -> dict[str, Any]:
        """Only the options the user set (what is worth showing)."""
        return {name: self._values[name] for name in sorted(self.explicit)}


def resolve_options(
    provider: str,
    specs: Mapping[str, OptionSpec],
    options: Mapping[str, Any],
    *,
    explicit: frozenset[str] | None = None,
) -> ProviderOptions:
    """``options`` checked and coerced (``validate_options``), on top of every default.

    ``explicit`` overrides which names count as set by the user (when restoring a stored
    spec that already holds every option).
    """
    # None means "not set" (no option takes None as a value): the default applies.
    given = validate_options(
        provider, specs, {name: value for name, value in options.items() if value is not None}
    )
    # Lists are copied so that no job shares (and could mutate) a default.
    values = {
        name: list(spec.default) if isinstance(spec.default, list) else spec.default
        for name, spec in specs.items()
    }
    values.update(given)
    return ProviderOptions(specs, values, frozenset(given) if explicit is None else explicit)


__all__ = ["OptionSpec", "ProviderOptions", "resolve_options", "validate_options"]
