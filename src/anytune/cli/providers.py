"""`anytune providers [NAME]`: what is installed, and what a provider accepts."""

from __future__ import annotations

from typing import Any

import click

from anytune import registry
from anytune.cli._common import emit, json_option


@click.command()
@click.argument("name", required=False)
@json_option
def providers(name: str | None, as_json: bool) -> None:
    """List installed providers, or show NAME's capabilities and options."""
    if name is None:
        installed = registry.available()
        missing = sorted(set(registry.KNOWN_DISTRIBUTIONS) - set(installed))
        data = {
            "installed": installed,
            "not_installed": {m: registry.install_command(m) for m in missing},
        }

        def lines() -> list[str]:
            out = [f"{n}" for n in installed]
            out += [f"{m}  (not installed: {registry.install_command(m)})" for m in missing]
            return out

        emit(data, as_json, lines)
        return
    cls = registry.provider_class(name)
    caps = getattr(cls, "capabilities", None)
    specs = getattr(cls, "option_specs", {})
    info: dict[str, Any] = {
        "name": name,
        "capabilities": {
            "pause_resume": caps.pause_resume if caps else False,
            "checkpoints": caps.checkpoints if caps else False,
            "methods": sorted(caps.methods) if caps else [],
            "render": caps.render if caps else False,
            "generate": caps.generate if caps else False,
        },
        "options": {
            key: {
                "type": spec.type.__name__,
                "default": spec.default,
                "help": spec.help,
                **({"choices": list(spec.choices)} if spec.choices else {}),
            }
            for key, spec in specs.items()
        },
    }

    def describe() -> list[str]:
        out = [f"{name}"]
        out.append(
            "  capabilities: " + ", ".join(f"{k}={v}" for k, v in info["capabilities"].items())
        )
        out.append("  options (set with -o KEY=VALUE):" if specs else "  options: none")
        for key, spec in specs.items():
            choices = f" one of {', '.join(map(str, spec.choices))};" if spec.choices else ""
            out.append(
                f"    {key} ({spec.type.__name__}, default {spec.default!r}):{choices} {spec.help}"
            )
        return out

    emit(info, as_json, describe)
