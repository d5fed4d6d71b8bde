"""What every command shares: error handling and exit codes, --json output (results and
errors), --provider / -P, index warnings, secret redaction."""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anytune.errors import AnytuneError

if TYPE_CHECKING:
    from anytune.client import Client

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 3
EXIT_STOPPED = 75
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130
MAX_PROBLEMS_SHOWN = 20
_JSON_KEY = "anytune.json"
_EXIT_KEY = "anytune.exit_code"

_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|SECRET|PASSWORD)$")
_SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]{8,}"),
    re.compile(r"(?i)(api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',]{6,}"),
    re.compile(r"(?i)(://[^/\s:@]+:)[^/\s@]+(@)"),  # http://user:password@host
]


def redact(text: str) -> str:
    """Remove API keys and other secrets from text about to be shown or logged."""
    from anytune.secrets import scrub_known  # the providers' declared secrets (Client)

    text = scrub_known(text)
    for name, value in os.environ.items():
        if value and len(value) >= 6 and _SECRET_ENV.search(name):
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.group(1) if m.groups() else "")
                + "***"
                + (m.group(2) if (m.lastindex or 0) >= 2 else "")
            ),
            text,
        )
    return text


def echo_err(message: str) -> None:
    click.echo(redact(message), err=True)


def print_json(data: Any, *, compact: bool = False) -> None:
    text = json.dumps(data, indent=None if compact else 2, sort_keys=False, default=str)
    click.echo(redact(text))


def emit(data: Any, as_json: bool, human: Callable[[], Iterable[str] | str]) -> None:
    """Print ``data`` as JSON with --json, else the human rendering."""
    if as_json:
        print_json(data)
        return
    out = human()
    lines = [out] if isinstance(out, str) else list(out)
    for line in lines:
        click.echo(redact(line))


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    # ctx.meta is shared by the whole context chain: the error handler of the group reads it.
    if value:
        ctx.meta[_JSON_KEY] = True
    return value


def set_exit_code(code: int) -> None:
    """The exit code the running command will end with, also if stdout is closed early."""
    click.get_current_context().meta[_EXIT_KEY] = code


def json_option(f: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help='Print JSON for scripts (errors too: {"error": {...}} on stdout).',
    )(f)


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
    """Parse KEY=VALUE strings (a usage error, exit 2, when one has no ``=``)."""
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


def make_client(provider: str | None, pairs: Iterable[str], **base: Any) -> Client:
    """A Client for ``provider`` with ``-P`` settings over ``base`` (e.g. from the index)."""
    from anytune.client import Client

    # An unknown -P name is the registry's InvalidArgumentError: exit 2, naming valid ones.
    settings = parse_pairs(pairs, "--provider-option")
    return Client(require_provider(provider), **{**base, **settings})


@contextmanager
def index_warnings(defer: bool = False) -> Iterator[list[str]]:
    """Show the job index's warnings as ``Warning: ...`` on stderr (the index is a cache:
    its failures never fail a command). With ``defer``, they are collected and shown when
    the block ends, i.e. after the command printed its result."""
    from anytune.index import IndexWarning

    pending: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IndexWarning)
        try:
            yield pending
        finally:
            # Every warning recorded (a provider's too, e.g. a cancelled duplicate job) is
            # shown the same way; calling showwarning here would record it again, forever.
            for item in caught:
                pending.append(str(item.message))
            for message in dict.fromkeys(pending):
                echo_err(f"Warning: {message}")


def _error_json(exc: AnytuneError | click.ClickException, code: int) -> dict[str, Any]:
    if isinstance(exc, click.ClickException):
        return {"type": "UsageError", "message": exc.format_message(), "exit_code": code}
    data: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": exc.message,
        "hint": exc.hint,
        "exit_code": code,
    }
    problems = getattr(exc, "problems", None)
    if problems:
        data["problems"] = list(problems)
    path = getattr(exc, "path", None)
    if path:
        data["path"] = path
    job = getattr(exc, "job", None)
    if job is not None:
        data["job"] = job.to_dict()
    return data


def _json_wanted(ctx: click.Context, args: list[str]) -> bool:
    if ctx.meta.get(_JSON_KEY):
        return True
    # A usage error can come before --json was parsed.
    return "--json" in args[: args.index("--")] if "--" in args else "--json" in args


def invoke_with_errors(ctx: click.Context, invoke: Callable[[], Any]) -> Any:
    """Run a command, turning errors into one clear message and the documented exit codes.

    Tracebacks only with --debug; secrets are redacted from everything printed; with
    --json the error is also printed as ``{"error": {...}}`` on stdout.
    """
    args = [*getattr(ctx, "_protected_args", []), *ctx.args]

    def debug() -> bool:  # read late: the group's callback sets it inside invoke()
        return bool((ctx.obj or {}).get("debug"))

    try:
        with index_warnings():
            return invoke()
    except click.exceptions.Exit:
        raise
    except click.ClickException as exc:
        if _json_wanted(ctx, args):
            print_json({"error": _error_json(exc, exc.exit_code)})
        raise
    except click.Abort:
        raise
    except AnytuneError as exc:
        if debug():
            echo_err(traceback.format_exc())
        report_error(exc)
        if _json_wanted(ctx, args):
            print_json({"error": _error_json(exc, exc.exit_code)})
        raise click.exceptions.Exit(exc.exit_code) from None
    except BrokenPipeError:
        # The reader went away (`anytune events JOB | head`): stop quietly, with the exit
        # code the command had already decided on (`validate bad.jsonl | head -1` is 1).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise click.exceptions.Exit(int(ctx.meta.get(_EXIT_KEY, EXIT_OK))) from None
    except KeyboardInterrupt:
        echo_err("\nInterrupted.")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if debug():
            echo_err(traceback.format_exc())
        else:
            echo_err(
                f"Error: unexpected {type(exc).__name__}: {exc}\n"
                "Run again with --debug for the traceback, and please report it."
            )
        raise click.exceptions.Exit(EXIT_ERROR) from None


def report_error(exc: AnytuneError) -> None:
    """The human rendering of an error, on stderr: message, problems, hint."""
    echo_err(f"Error: {exc.message}")
    problems = getattr(exc, "problems", None) or []
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        echo_err(f"  {problem}")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        echo_err(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
    if exc.hint:
        echo_err(exc.hint)
