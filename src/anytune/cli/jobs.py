"""Job commands: upload, create, run, status, wait, events, list, checkpoints, cancel, pause,
resume. Each parses its arguments, makes one core call, and renders the result."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from anytune.cli import render
from anytune.cli._common import (
    echo_err,
    emit,
    json_option,
    parse_pairs,
    provider_option,
    redact,
    require_provider,
)
from anytune.client import Client
from anytune.errors import JobError, WaitTimeoutError
from anytune.types import Hyperparameters, Job


class AutoNumber(click.ParamType):  # type: ignore[type-arg]
    """A number or the word "auto"."""

    name = "NUMBER|auto"

    def __init__(self, kind: type[int] | type[float]):
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or value == "auto":
            return value
        try:
            return self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a {self.kind.__name__} or 'auto'", param, ctx)


def _client(provider: str | None, provider_options: Iterable[str]) -> Client:
    options: dict[str, Any] = parse_pairs(provider_options, "--provider-option")
    return Client(require_provider(provider), **options)


def _client_for_job(job_id: str, provider: str | None, provider_options: Iterable[str]) -> Client:
    """The provider given on the command line, else the one that created the job."""
    if provider:
        return _client(provider, provider_options)
    return Client.for_job(job_id)


def job_spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by `create` and `run`."""
    decorators = [
        click.option("--model", "-m", required=True, help="Base model to fine-tune."),
        click.option("--method", type=click.Choice(["supervised", "dpo"]), default="supervised"),
        click.option("--n-epochs", type=AutoNumber(int), help="Epochs (number or auto)."),
        click.option("--batch-size", type=AutoNumber(int), help="Examples per step (or auto)."),
        click.option(
            "--learning-rate-multiplier",
            "--lr-multiplier",
            type=AutoNumber(float),
            help="Multiplier of the provider's base learning rate (or auto).",
        ),
        click.option("--beta", type=AutoNumber(float), help="DPO beta (or auto)."),
        click.option("--suffix", help="Added to the fine-tuned model's name."),
        click.option("--seed", type=int, help="Random seed for reproducible training."),
        click.option("--metadata", multiple=True, metavar="KEY=VALUE", help="Job metadata."),
        click.option(
            "--option",
            "-o",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Provider-specific option (see `anytune providers NAME`).",
        ),
        click.option(
            "--integration",
            "integrations",
            multiple=True,
            metavar="JSON",
            help='Integration passed through as is, e.g. \'{"type":"wandb","wandb":{"project":"p"}}\'.',
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _create(
    client: Client,
    *,
    training_file: str,
    validation_file: str | None,
    model: str,
    method: str,
    n_epochs: Any,
    batch_size: Any,
    learning_rate_multiplier: Any,
    beta: Any,
    suffix: str | None,
    seed: int | None,
    metadata: tuple[str, ...],
    options: tuple[str, ...],
    integrations: tuple[str, ...],
) -> Job:
    try:
        hyperparameters = Hyperparameters.from_dict(
            {
                "n_epochs": n_epochs,
                "batch_size": batch_size,
                "learning_rate_multiplier": learning_rate_multiplier,
                "beta": beta,
            }
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    parsed_integrations = []
    for raw in integrations:
        try:
            parsed_integrations.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--integration {raw!r} is not JSON: {exc.msg}") from None
    return client.jobs.create(
        model=model,
        training_file=_file_id(client, training_file),
        validation_file=_file_id(client, validation_file) if validation_file else None,
        method=method,  # type: ignore[arg-type]
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=seed,
        metadata=parse_pairs(metadata, "--metadata"),
        options=parse_pairs(options, "--option"),
        integrations=parsed_integrations,
    )


def _file_id(client: Client, value: str) -> str:
    """A local path is uploaded first; anything else is taken as a file id."""
    path = Path(value)
    if path.is_file():
        uploaded = client.files.create(path)
        echo_err(f"Uploaded {path} as {uploaded.id}")
        return uploaded.id
    return value


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--purpose", default="fine-tune", show_default=True)
@provider_option()
@json_option
def upload(
    file: Path, purpose: str, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """Upload FILE and print its file id."""
    client = _client(provider, provider_options)
    uploaded = client.files.create(file, purpose=purpose)
    emit(uploaded.to_dict(), as_json, lambda: render.file_line(uploaded))


@click.command()
@click.option("--training-file", "-t", required=True, help="File id, or a local path to upload.")
@click.option("--validation-file", "-v", help="File id, or a local path to upload.")
@job_spec_options
@provider_option()
@json_option
def create(
    provider: str | None, provider_options: tuple[str, ...], as_json: bool, **spec: Any
) -> None:
    """Create a fine-tuning job and print its id (it runs in the background)."""
    client = _client(provider, provider_options)
    job = _create(client, **spec)
    emit(job.to_dict(), as_json, lambda: render.job_lines(job))


@click.command()
@click.argument("training_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--validation-file", "-v", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@job_spec_options
@click.option("--interval", type=float, help="Seconds between polls (default: per provider).")
@click.option("--timeout", type=float, help="Give up waiting after this many seconds (exit 124).")
@click.option("--skip-validation", is_flag=True, help="Upload without validating first.")
@provider_option()
@json_option
def run(
    training_file: Path,
    validation_file: Path | None,
    interval: float | None,
    timeout: float | None,
    skip_validation: bool,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
    **spec: Any,
) -> None:
    """Validate, upload, create and wait: TRAINING_FILE to a fine-tuned model in one go.

    The job id is printed first (so a script can recover it); with --json, two JSON lines:
    the created job, then the final job. Exit code as `anytune wait`.
    """
    client = _client(provider, provider_options)
    if not skip_validation:
        _validate_before_upload(client, training_file, validation_file, spec)
    job = _create(
        client,
        training_file=str(training_file),
        validation_file=str(validation_file) if validation_file else None,
        **spec,
    )
    if as_json:
        click.echo(redact(json.dumps(job.to_dict())))
    else:
        click.echo(f"{job.id}")
    sys.stdout.flush()
    _wait_and_report(client, job.id, interval, timeout, as_json, compact=True)


def _validate_before_upload(
    client: Client, training_file: Path, validation_file: Path | None, spec: dict[str, Any]
) -> None:
    from anytune.dataset.validate import validate_file

    rules = client.provider.dataset_rules(spec["model"], method=spec["method"])
    report = validate_file(
        training_file,
        rules=rules,
        validation_path=validation_file,
        method=spec["method"],
        n_epochs=spec["n_epochs"],
    )
    if not report.ok:
        from anytune.errors import DatasetError

        shown = [str(p) for p in report.errors]
        if report.error_count > len(shown):
            shown.append(f"... and {report.error_count - len(shown)} more")
        raise DatasetError(
            f"{training_file}: {report.error_count} problem(s); nothing was uploaded",
            problems=shown,
            hint=f"fix them (full report: anytune validate {training_file} "
            f"--provider {client.provider_name} --model {spec['model']}), "
            "or pass --skip-validation",
        )
    echo_err(f"Validated {training_file}: {report.summary_line()}")


def _wait_and_report(
    client: Client,
    job_id: str,
    interval: float | None,
    timeout: float | None,
    as_json: bool,
    *,
    compact: bool = False,
    quiet: bool = False,
) -> None:
    progress = render.Progress(job_id)
    every = interval if interval is not None else client.provider.default_poll_interval
    try:
        job = client.jobs.wait(
            job_id,
            interval=every,
            timeout=timeout,
            on_event=None if quiet else progress.on_event,
            on_status=None if quiet else progress.on_status,
        )
    except (JobError, WaitTimeoutError) as exc:
        progress.finish()
        if exc.job is not None:
            _print_final(exc.job, as_json, compact)
        raise
    progress.finish()
    _print_final(job, as_json, compact)


def _print_final(job: Job, as_json: bool, compact: bool) -> None:
    if as_json:
        click.echo(redact(json.dumps(job.to_dict(), indent=None if compact else 2)))
    elif job.fine_tuned_model:
        click.echo(f"{job.status}: {job.fine_tuned_model}")
    else:
        click.echo(str(job.status))


@click.command()
@click.argument("job_id")
@provider_option(required=False)
@json_option
def status(
    job_id: str, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """Show JOB_ID (provider from the local index unless --provider is given)."""
    job = _client_for_job(job_id, provider, provider_options).jobs.retrieve(job_id)
    emit(job.to_dict(), as_json, lambda: render.job_lines(job))


@click.command()
@click.argument("job_id")
@click.option("--interval", type=float, help="Seconds between polls (default: per provider).")
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 124).")
@click.option("--quiet", "-q", is_flag=True, help="No progress, only the result.")
@provider_option(required=False)
@json_option
def wait(
    job_id: str,
    interval: float | None,
    timeout: float | None,
    quiet: bool,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Wait for JOB_ID to finish, showing progress on stderr.

    Exit 0 succeeded, 1 failed, 3 cancelled, 124 timed out (the job keeps running).
    """
    client = _client_for_job(job_id, provider, provider_options)
    _wait_and_report(client, job_id, interval, timeout, as_json, quiet=quiet)


@click.command()
@click.argument("job_id")
@click.option("--after", help="Only events after this event id.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the job ends.")
@click.option("--interval", type=float, help="Seconds between polls with --follow.")
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
    client = _client_for_job(job_id, provider, provider_options)
    if not follow:
        found = client.jobs.events(job_id, after=after)
        emit([e.to_dict() for e in found], as_json, lambda: map(render.event_line, found))
        return
    every = interval if interval is not None else client.provider.default_poll_interval
    for event in client.jobs.events(job_id, after=after, follow=True, interval=every):
        text = json.dumps(event.to_dict()) if as_json else render.event_line(event)
        click.echo(redact(text))


@click.command("list")
@click.option("--limit", type=int, default=20, show_default=True)
@provider_option(required=False)
@json_option
def list_jobs(
    limit: int, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """List jobs: the provider's with --provider, else the ones recorded locally by anytune."""
    if provider:
        jobs = _client(provider, provider_options).jobs.list(limit=limit)
        emit([j.to_dict() for j in jobs], as_json, lambda: map(render.job_row, jobs))
        return
    from anytune.index import JobIndex

    recorded = JobIndex().list(limit=limit)

    def rows() -> Iterable[str]:
        if not recorded:
            yield "No jobs recorded yet (anytune records the jobs it creates)."
        for r in recorded:
            yield f"{r.job_id:<32} {r.provider:<8} {r.last_status or '?':<17} {render.when(r.created_at):<24} {r.model or ''}"

    data = [
        {
            "id": r.job_id,
            "provider": r.provider,
            "model": r.model,
            "last_status": r.last_status,
            "created_at": r.created_at,
        }
        for r in recorded
    ]
    emit(data, as_json, rows)


@click.command()
@click.argument("job_id")
@provider_option(required=False)
@json_option
def checkpoints(
    job_id: str, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """List JOB_ID's checkpoints, oldest first."""
    found = _client_for_job(job_id, provider, provider_options).jobs.checkpoints(job_id)
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
        client = _client_for_job(job_id, provider, provider_options)
        job = getattr(client.jobs, name)(job_id)
        emit(job.to_dict(), as_json, lambda: [f"{job.id}: {render.status_text(job.status)}"])

    return command


cancel = _action_command("cancel", "Cancel JOB_ID.")
pause = _action_command("pause", "Pause JOB_ID (providers that support it).")
resume = _action_command(
    "resume",
    "Resume JOB_ID: a paused job, or (local) one whose worker died, from its last checkpoint.",
)

__all__ = [
    "cancel",
    "checkpoints",
    "create",
    "events",
    "list_jobs",
    "pause",
    "resume",
    "run",
    "status",
    "upload",
    "wait",
]
