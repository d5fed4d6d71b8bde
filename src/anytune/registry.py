"""Find providers by name. Entry points are read, not imported, until a provider is used.

Providers register in the ``anytune.providers`` entry-point group. Names anytune knows
about but whose distribution is missing fail with the exact ``pip install`` command; an
unknown name lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from anytune.errors import (
    InvalidArgumentError,
    ProviderNotFoundError,
    ProviderNotInstalledError,
)

if TYPE_CHECKING:
    from anytune.provider import Provider

GROUP = "anytune.providers"

# Providers maintained with anytune: name -> the distribution that provides it.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "openai": "anytune-openai",
    "azure": "anytune-openai",
    "local": "anytune-local",
    "together": "anytune-together",
    "fireworks": "anytune-fireworks",
    "ray": "anytune-ray",
}

ProviderFactory = Callable[..., "Provider"]
_registered: dict[str, ProviderFactory] = {}


def register(name: str, factory: ProviderFactory) -> None:
    """Register a provider in-process (tests, applications); it wins over entry points."""
    _registered[name] = factory


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of installed providers (not imported)."""
    return sorted(set(_entry_points()) | set(_registered))


def install_command(name: str) -> str:
    dist = KNOWN_DISTRIBUTIONS[name]
    return (
        f"pip install {dist}   (or: pip install 'anytune[{name if name != 'azure' else 'openai'}]')"
    )


def provider_class(name: str) -> ProviderFactory:
    """Import and return the provider registered as ``name``."""
    if name in _registered:
        return _registered[name]
    eps = _entry_points()
    if name not in eps:
        if name in KNOWN_DISTRIBUTIONS:
            raise ProviderNotInstalledError(
                f"provider {name!r} is not installed",
                hint=f"install it with: {install_command(name)}",
                provider=name,
            )
        known = sorted(set(eps) | set(_registered) | set(KNOWN_DISTRIBUTIONS))
        raise ProviderNotFoundError(
            f"unknown provider {name!r}",
            hint=f"known providers: {', '.join(known)}",
        )
    try:
        factory: ProviderFactory = eps[name].load()
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        hint = (
            f"reinstall it with: {install_command(name)}"
            if name in KNOWN_DISTRIBUTIONS
            else f"reinstall the distribution that provides {name!r}"
        )
        raise ProviderNotInstalledError(
            f"provider {name!r} could not be imported (missing {missing})", hint=hint, provider=name
        ) from exc
    return factory


def create(name: str, **options: Any) -> Provider:
    """Create the provider ``name`` with its options (e.g. ``api_key``, ``home``).

    An option the provider's constructor does not take is an ``InvalidArgumentError`` naming
    the ones it does.
    """
    factory = provider_class(name)
    _check_settings(name, factory, options)
    return factory(**options)


def settings(factory: ProviderFactory) -> list[str] | None:
    """The keyword settings a provider's constructor takes (None: it takes any)."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in keyword]


def _check_settings(name: str, factory: ProviderFactory, options: dict[str, Any]) -> None:
    accepted = settings(factory)
    if accepted is None:
        return
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"unknown setting(s) for provider {name!r}: {', '.join(unknown)}",
            hint=f"valid settings for {name}: {', '.join(accepted) or 'none'} "
            "(given as Client(name, setting=...) or -P setting=VALUE)",
            provider=name,
        )
