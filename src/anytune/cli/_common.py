"""What every command shares: error handling and exit codes, --json output, --provider,
secret redaction."""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from anytune.errors import AnytuneError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 3
EXIT_TIMEOUT = 124
MAX_PROBLEMS_SHOWN = 20

_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|SECRET|PASSWORD)$")
_SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]{8,}"),
    re.compile(r"(?i)(api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',]{6,}"),
]


def redact(text: str) -> str:
    """Remove API keys and other secrets from text about to be shown or logged."""
    for name, value in os.environ.items():
        if value and len(value) >= 6 and _SECRET_ENV.search(name):
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def echo_err(message: str) -> None:
    click.echo(redact(message), err=True)


def print_json(data: Any) -> None:
    click.echo(redact(json.dumps(data, indent=2, sort_keys=False, default=str)))


def emit(data: Any, as_json: bool, human: Callable[[], Iterable[str] | str]) -> None:
    """Print ``data`` as JSON with --json, else the human rendering."""
    if as_json:
        print_json(data)
        return
    out = human()
    lines = [out] if isinstance(out, str) else list(out)
    for line in lines:
        click.echo(redact(line))


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def provider_option(required: bool = True) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        f = click.option(
            "--provider-option",
            "-P",
            "provider_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Provider connection setting, e.g. -P base_url=http://... or -P home=DIR.",
        )(f)
        return click.option(
            "--provider",
            "-p",
            envvar="ANYTUNE_PROVIDER",
            required=False,
            help="Provider name (default: $ANYTUNE_PROVIDER"
            + (")." if required else "; for recorded jobs, the one that created it)."),
        )(f)

    return decorate


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """Parse KEY=VALUE strings."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"{what} {pair!r} must look like KEY=VALUE")
        result[key.strip()] = value
    return result


def require_provider(provider: str | None) -> str:
    if not provider:
        raise click.UsageError(
            "no provider given: pass --provider NAME or set ANYTUNE_PROVIDER "
            "(see `anytune providers`)"
        )
    return provider


def invoke_with_errors(ctx: click.Context, invoke: Callable[[], Any]) -> Any:
    """Run a command, turning errors into one clear message and the documented exit codes.

    Tracebacks only with --debug; secrets are redacted from everything printed.
    """
    debug = bool((ctx.obj or {}).get("debug")) or bool(os.environ.get("ANYTUNE_DEBUG"))
    try:
        return invoke()
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except AnytuneError as exc:
        if debug:
            echo_err(traceback.format_exc())
        echo_err(f"Error: {exc.message}")
        problems = getattr(exc, "problems", None) or []
        for problem in problems[:MAX_PROBLEMS_SHOWN]:
            echo_err(f"  {problem}")
        if len(problems) > MAX_PROBLEMS_SHOWN:
            echo_err(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
        if exc.hint:
            echo_err(exc.hint)
        raise click.exceptions.Exit(exc.exit_code) from None
    except BrokenPipeError:
        # The reader went away (`anytune events JOB | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise click.exceptions.Exit(EXIT_OK) from None
    except KeyboardInterrupt:
        echo_err("Interrupted.")
        raise click.exceptions.Exit(130) from None
    except Exception as exc:
        if debug:
            echo_err(traceback.format_exc())
        else:
            echo_err(
                f"Error: unexpected {type(exc).__name__}: {exc}\n"
                "Run again with --debug for the traceback, and please report it."
            )
        raise click.exceptions.Exit(EXIT_ERROR) from None
