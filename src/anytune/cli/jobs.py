"""Job commands: status, wait, events, list, checkpoints, cancel, pause, resume. Each finds
the job's provider (``-p``, else the job index), makes one core call, and renders the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anytune.cli import render
from anytune.cli._common import (
    EXIT_INTERRUPTED,
    echo_err,
    emit,
    json_option,
    make_client,
    print_json,
    provider_option,
    redact,
    report_error,
)
from anytune.errors import JobError, NotFoundError, StorageError
from anytune.polling import reattach_hint
from anytune.types import Event, Job

if TYPE_CHECKING:
    from anytune.client import Client

T = TypeVar("T")


READ_DEFAULTS = {"timeout": "10", "max_retries": "1"}
"""Request settings for commands that only read a job (status, wait, events, checkpoints,
list), where the provider takes them and neither ``-P`` nor the index sets them: a hung
server is reported in seconds, not after an SDK's 10-minute default times its retries (and
``wait`` retries by itself, for as long as it takes)."""


def read_defaults(provider: str) -> dict[str, str]:
    from anytune import registry

    accepted = registry.settings(registry.provider_class(provider))
    return {k: v for k, v in READ_DEFAULTS.items() if accepted is not None and k in accepted}


def client_for_job(
    job_id: str, provider: str | None, pairs: Iterable[str], *, read: bool = False
) -> Client:
    """The provider given with ``-p``, else the one the index recorded for the job (with its
    connection settings); ``-P`` settings apply either way."""
    connection: dict[str, Any] = {}
    if not provider:
        from anytune.index import JobIndex

        entry = JobIndex().find(job_id)
        provider, connection = entry.provider, dict(entry.connection)
    base = {**(read_defaults(provider) if read else {}), **connection}
    return make_client(provider, pairs, **base)


def _known_elsewhere(job_id: str, provider: str) -> str | None:
    """A hint when the index knows ``job_id`` under another provider than ``-p``."""
    from anytune.index import JobIndex

    try:
        others = [e.provider for e in JobIndex().lookup(job_id) if e.provider != provider]
    except StorageError:
        return None  # `-p` was given: the job must be reachable without the index
    if not others:
        return None
    return (
        f"anytune's index knows job {job_id} under provider {others[0]!r}: "
        f"drop --provider, or use --provider {others[0]}"
    )


def on_job(
    job_id: str,
    provider: str | None,
    pairs: Iterable[str],
    call: Callable[[Client], T],
    *,
    read: bool = True,
) -> T:
    """``call(client)`` for the job's client; a not-found with ``-p`` says where the job is.

    ``read``: the command only reads (short request timeouts, see ``READ_DEFAULTS``)."""
    client = client_for_job(job_id, provider, pairs, read=read)
    try:
        return call(client)
    except NotFoundError as exc:
        hint = _known_elsewhere(job_id, provider) if provider else None
        if hint:
            exc.hint = f"{exc.hint}; {hint}" if exc.hint else hint
        raise


def wait_and_report(
    client: Client,
    job_id: str,
    *,
    interval: float | None,
    timeout: float | None,
    max_outage: float | None,
    as_json: bool,
    compact: bool = False,
    quiet: bool = False,
) -> None:
    """Wait with live progress on stderr, then print the result on stdout.

    stdout: the fine-tuned model on success (the job's id when it has none); with --json the
    final job whatever its status. The exit code says how the job ended.
    """
    from anytune.cli.progress import Progress

    progress = Progress(job_id, quiet=quiet)
    every = interval if interval is not None else client.provider.default_poll_interval
    try:
        job = client.jobs.wait(
            job_id,
            interval=every,
            timeout=timeout,
            on_event=progress.on_event,
            on_status=progress.on_status,
            on_outage=progress.on_outage,
            max_outage=max_outage,
        )
    except JobError as exc:
        progress.finish()
        _print_final(exc.job, as_json, compact)
        report_error(exc)
        raise click.exceptions.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        progress.finish()
        echo_err(f"Interrupted: stopped waiting for job {job_id}; {reattach_hint(job_id)}.")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    finally:
        progress.finish()
    _print_final(job, as_json, compact)


def _print_final(job: Job, as_json: bool, compact: bool) -> None:
    echo_err(render.final_line(job))
    if as_json:
        print_json(job.to_dict(), compact=compact)
    elif job.status == "succeeded":
        click.echo(job.fine_tuned_model or job.id)


@click.command()
@click.argument("job_id")
@provider_option(required=False)
@json_option
def status(
    job_id: str, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """Show JOB_ID (provider from the local index unless --provider is given)."""
    job = on_job(job_id, provider, provider_options, lambda c: c.jobs.retrieve(job_id))
    emit(job.to_dict(), as_json, lambda: render.job_lines(job))


@click.command()
@click.argument("job_id")
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    help="Seconds between polls (default: per provider).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0), help="Give up after this many seconds (exit 124)."
)
@click.option(
    "--max-outage",
    type=click.FloatRange(min=0),
    help="Stop when the provider has not answered for this many seconds (exit 75; default: keep retrying).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress, only the result.")
@provider_option(required=False)
@json_option
def wait(
    job_id: str,
    interval: float | None,
    timeout: float | None,
    max_outage: float | None,
    quiet: bool,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Wait for JOB_ID to finish, showing progress on stderr.

    \b
    stdout: the fine-tuned model (with --json: the final job).
    Exit 0 succeeded, 1 failed, 3 cancelled; when it stops waiting before the job ends the
    job keeps running: 75 provider unreachable for --max-outage seconds (or an error while
    polling), 124 --timeout reached, 130 Ctrl-C. Through an outage it keeps retrying.
    """

    def run(client: Client) -> None:
        wait_and_report(
            client,
            job_id,
            interval=interval,
            timeout=timeout,
            max_outage=max_outage,
            as_json=as_json,
            quiet=quiet,
        )

    on_job(job_id, provider, provider_options, run)


@click.command()
@click.argument("job_id")
@click.option("--after", help="Only events after this event id.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the job ends.")
@click.option(
    "--interval", type=click.FloatRange(min=0), help="Seconds between polls with --follow."
)
@provider_option(required=False)
@json_option
def events(
    job_id: str,
    after: str | None,
    follow: bool,
    interval: float | None,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show JOB_ID's events, oldest first. With --json and --follow: one JSON object per line."""

    def run(client: Client) -> None:
        if not follow:
            found = client.jobs.events(job_id, after=after)
            emit([e.to_dict() for e in found], as_json, lambda: map(render.event_line, found))
            return
        every = interval if interval is not None else client.provider.default_poll_interval
        for event in client.jobs.events(job_id, after=after, follow=True, interval=every):
            text = json.dumps(event.to_dict()) if as_json else render.event_line(event)
            click.echo(redact(text))

    on_job(job_id, provider, provider_options, run)


@click.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@provider_option(required=False)
@json_option
def list_jobs(
    limit: int, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """List jobs: the provider's with --provider, else the ones recorded locally by anytune."""
    if provider:
        client = make_client(provider, provider_options, **read_defaults(provider))
        jobs = client.jobs.list(limit=limit)
        emit([j.to_dict() for j in jobs], as_json, lambda: map(render.job_row, jobs))
        return
    from anytune.index import JobIndex

    recorded = JobIndex().list(limit=limit)

    def rows() -> Iterable[str]:
        if not recorded:
            yield "No jobs recorded yet (anytune records the jobs it creates)."
        for r in recorded:
            yield (
                f"{r.job_id:<32} {r.provider:<8} {r.last_status or '?':<17} "
                f"{render.when(r.created_at):<24} {r.model or ''}"
                + (f"  (rerun of {r.parent})" if r.parent else "")
            )

    data: list[dict[str, Any]] = [
        {
            "id": r.job_id,
            "provider": r.provider,
            "model": r.model,
            "last_status": r.last_status,
            "created_at": r.created_at,
            "parent": r.parent,
        }
        for r in recorded
    ]
    emit(data, as_json, rows)


@click.command()
@click.argument("job_id")
@click.option("--best", is_flag=True, help="Only the checkpoint with the best validation loss.")
@provider_option(required=False)
@json_option
def checkpoints(
    job_id: str, best: bool, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """List JOB_ID's checkpoints, oldest first (--best: the lowest validation loss)."""
    if best:
        from anytune.cli.plot import job_curves

        chosen = on_job(job_id, provider, provider_options, lambda c: job_curves(c, job_id))[1]
        if chosen is None:
            raise NotFoundError(
                f"job {job_id} has no checkpoint with a validation loss",
                hint="train with a validation file (--validation-file) to rank checkpoints",
            )
        emit(chosen.to_dict(), as_json, lambda: render.checkpoint_line(chosen))
        return
    found = on_job(job_id, provider, provider_options, lambda c: c.jobs.checkpoints(job_id))
    emit(
        [c.to_dict() for c in found],
        as_json,
        lambda: map(render.checkpoint_line, found) if found else ["No checkpoints."],
    )


def _action_command(name: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("job_id")
    @provider_option(required=False)
    @json_option
    def command(
        job_id: str, provider: str | None, provider_options: tuple[str, ...], as_json: bool
    ) -> None:
        def act(client: Client) -> tuple[Job, Event | None]:
            job = getattr(client.jobs, name)(job_id)
            if name != "resume":
                return job, None
            # The provider's resume event says what it resumed from (which checkpoint).
            events = client.jobs.events(job_id)
            return job, (events[-1] if events else None)

        job, last = on_job(
            job_id,
            provider,
            provider_options,
            act,
            read=False,  # a write: the provider's own timeouts and retries apply
        )
        if last is not None and not as_json:
            click.echo(last.message, err=True)
        emit(job.to_dict(), as_json, lambda: [f"{job.id}: {render.status_text(job.status)}"])

    return command


cancel = _action_command("cancel", "Cancel JOB_ID.")
pause = _action_command("pause", "Pause JOB_ID (providers that support it).")
resume = _action_command(
    "resume",
    "Resume JOB_ID: a paused job, or (local) a failed one, from its newest usable checkpoint.",
)

__all__ = [
    "cancel",
    "checkpoints",
    "client_for_job",
    "events",
    "list_jobs",
    "pause",
    "resume",
    "status",
    "wait",
    "wait_and_report",
]
