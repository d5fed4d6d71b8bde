"""``anytune serve``: OpenAI's fine-tuning API over any provider (needs ``anytune[serve]``)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from anytune.cli._common import echo_err, parse_pairs

EXTRA_HINT = "install it with: pip install 'anytune[serve]'"


def _models(values: tuple[str, ...]) -> dict[str, str]:
    """``NAME=MODEL`` pairs; a bare ``NAME`` offers the provider's model of that name."""
    found: dict[str, str] = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not name.strip() or (sep and not target.strip()):
            raise click.UsageError(f"--model {value!r} must look like NAME=MODEL or NAME")
        found[name.strip()] = target.strip() if sep else name.strip()
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option(
    "--provider",
    "-p",
    envvar="ANYTUNE_PROVIDER",
    default="local",
    show_default=True,
    help="The provider that trains (any installed one).",
)
@click.option(
    "--provider-option",
    "-P",
    "provider_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider connection setting, e.g. -P home=DIR.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback needs API keys.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lines of 'PROJECT KEY' (or sha256:HEX instead of KEY). Also: "
    "$ANYTUNE_SERVER_API_KEYS as PROJECT:KEY,...",
)
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    metavar="NAME[=MODEL]",
    help="A base model clients may name (repeatable), e.g. -m qwen=/models/Qwen2.5-0.5B, or "
    "-m gpt-4o-mini-2024-07-18 for a hosted provider's model. Only these names are accepted.",
)
@click.option(
    "--option",
    "-o",
    "job_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option applied to every job, e.g. -o lora_r=16.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the server keeps its state (default: $ANYTUNE_HOME/serve/PROVIDER).",
)
@click.option(
    "--max-upload-mb",
    default=512,
    show_default=True,
    type=click.IntRange(1),
    help="Largest file accepted in one upload (the Uploads API allows the same total).",
)
@click.option(
    "--cache-seconds",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0),
    help="How long one reading of a job from the provider is shared by its pollers.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    provider: str,
    provider_options: tuple[str, ...],
    host: str,
    port: int,
    api_key_file: Path | None,
    models: tuple[str, ...],
    job_options: tuple[str, ...],
    data_dir: Path | None,
    max_upload_mb: int,
    cache_seconds: float,
    log_level: str,
) -> None:
    """Serve OpenAI's files, fine-tuning, models and chat-completions API, backed by a provider.

    \b
    Point unchanged OpenAI scripts at it:
      anytune serve -m tiny=./tiny-model
      OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=unused python train.py
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise click.ClickException(f"anytune serve needs {exc.name}; {EXTRA_HINT}") from None

    from anytune import config, registry
    from anytune.provider import validate_options
    from anytune.serve.app import create_app, wrap
    from anytune.serve.auth import KeyRing
    from anytune.serve.service import MB, ServeConfig

    keys = KeyRing.load(api_key_file, os.environ.get("ANYTUNE_SERVER_API_KEYS"))
    if not keys.enabled and not _is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host} without API keys: anyone could train and read files. "
            "Give --api-key-file (or ANYTUNE_SERVER_API_KEYS), or listen on 127.0.0.1."
        )
    settings = parse_pairs(provider_options, "--provider-option")
    backend = registry.create(provider, **settings)
    options = validate_options(
        backend.name, backend.option_specs, parse_pairs(job_options, "--option")
    )
    settings_config = ServeConfig(
        provider=provider,
        data_dir=(data_dir or config.home() / "serve" / provider).expanduser().absolute(),
        provider_options=settings,
        keys=keys,
        models=_models(models),
        job_options=options,
        max_upload_bytes=max_upload_mb * MB,
        cache_seconds=cache_seconds,
    )
    app = wrap(create_app(settings_config, backend), settings_config)
    if keys.enabled:
        projects = sorted({project for _, project in keys.entries})
        echo_err(
            f"anytune serve: {len(keys.entries)} API key(s) for project(s) {', '.join(projects)}"
        )
    else:
        echo_err(
            f"anytune serve: no API keys configured, so listening on {host} only and "
            "accepting any key (give --api-key-file to serve other machines)"
        )
    echo_err(
        f"anytune serve: provider {provider}, state in {settings_config.data_dir}; "
        f"OPENAI_BASE_URL=http://{host}:{port}/v1"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
