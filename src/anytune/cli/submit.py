"""The commands that send something to a provider: upload, create, run.

Everything is checked before anything happens: every argument and option (KEY=VALUE pairs,
hyperparameter ranges, the provider's own checks of the complete spec through
``Provider.validate_spec``), then the format of every local file (and its exact token
counts, unless the provider's job does that itself first: ``DatasetRules.job_counts_exactly``).
Only then is anything uploaded, priced or created. On stdout, ``upload`` and ``create`` print the id alone (details
go to stderr); ``run`` prints the job id first and the fine-tuned model last.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anytune.cli import render
from anytune.cli._common import (
    echo_err,
    index_warnings,
    json_option,
    make_client,
    parse_pairs,
    print_json,
    provider_option,
)
from anytune.cli.jobs import wait_and_report
from anytune.errors import AnytuneError, DatasetError
from anytune.types import Hyperparameters, JobSpec

if TYPE_CHECKING:
    from anytune.client import Client

_PATH_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")


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
            kind = "whole number" if self.kind is int else "number"
            self.fail(f"{value!r} is not a {kind} or 'auto'", param, ctx)


def skip_validation_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--skip-validation", is_flag=True, help="Upload local files without checking them first."
    )(f)


def job_spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by `create` and `run`."""
    decorators = [
        click.option("--model", "-m", required=True, help="Base model to fine-tune."),
        click.option("--method", type=click.Choice(["supervised", "dpo"]), default="supervised"),
        click.option("--n-epochs", type=AutoNumber(int), help="Epochs, 1-50 (or auto)."),
        click.option(
            "--batch-size", type=AutoNumber(int), help="Examples per step, 1-256 (or auto)."
        ),
        click.option(
            "--learning-rate-multiplier",
            "--lr-multiplier",
            type=AutoNumber(float),
            help="Multiplier of the provider's base learning rate, > 0 (or auto).",
        ),
        click.option("--beta", type=AutoNumber(float), help="DPO beta, (0, 2] (or auto)."),
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


def _local_path(value: str | None, flag: str) -> Path | None:
    """``value`` as a local file to upload, or None when it is a provider file id."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise click.UsageError(f"{flag} {value}: is a directory; give a JSONL file or a file id")
    if path.is_file():
        return path
    if "/" in value or "\\" in value or value.lower().endswith(_PATH_SUFFIXES):
        raise click.UsageError(
            f"{flag} {value}: no such file (and it does not look like a file id)"
        )
    return None


def build_spec(
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
) -> JobSpec:
    """The complete spec, checked by anytune and by the provider, without side effects.

    Files still to upload get the id "" until they are uploaded.
    """
    parsed_integrations = []
    for raw in integrations:
        try:
            parsed_integrations.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--integration {raw!r} is not JSON: {exc.msg}") from None
    provider_options = parse_pairs(options, "--option")
    job_metadata = parse_pairs(metadata, "--metadata")
    try:
        spec = JobSpec(
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            method=method,
            hyperparameters=Hyperparameters.from_dict(
                {
                    "n_epochs": n_epochs,
                    "batch_size": batch_size,
                    "learning_rate_multiplier": learning_rate_multiplier,
                    "beta": beta,
                }
            ),
            suffix=suffix,
            seed=seed,
            metadata=job_metadata,
            options=provider_options,
            integrations=tuple(parsed_integrations),
        )
    except AnytuneError:
        raise  # InvalidArgumentError: a usage mistake, exit 2
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    # The provider's checks of the complete spec (method, hyperparameter ranges, options,
    # the model...): everything but the files, which are not uploaded yet.
    return client.provider.validate_spec(spec, check_files=False)


def check_file(
    client: Client,
    path: Path,
    *,
    model: str | None,
    method: str | None,
    n_epochs: Any,
    validation: Path | None = None,
    minimum: bool = True,
    options: Mapping[str, Any] | None = None,
    before_job: bool = False,
) -> None:
    """Refuse to upload a file that is not usable training data (nothing is uploaded).

    ``validation``: a validation file checked with it (and for overlap), as `validate -v`
    does. ``minimum=False`` for a validation file alone: the provider's minimum number of
    examples is for training data. ``options``: the job's options as ``validate_spec`` typed
    them, for rules that depend on one (e.g. ``max_length``). ``before_job``: a job is created
    next, so a provider whose job counts exactly (``DatasetRules.job_counts_exactly``) gets
    the format check and a token estimate here.
    """
    from dataclasses import replace as replace_rules

    from anytune.dataset.validate import sniff_method, validate_file

    chosen = method or sniff_method(path)
    rules = client.provider.dataset_rules(model, method=chosen, options=options)
    if before_job and rules.job_counts_exactly:
        rules = replace_rules(rules, token_counter=None)
    if not minimum:
        rules = replace_rules(rules, min_examples=1)
    report = validate_file(
        path,
        rules=rules,
        validation_path=validation,
        method=chosen,
        n_epochs=n_epochs if n_epochs is not None else "auto",
        provider=client.provider_name,
        model=model,
        provider_check=lambda file: client.provider.check_dataset(file, method=chosen),
    )
    if not report.ok:
        shown = [str(p) for p in report.errors]
        if report.error_count > len(shown):
            shown.append(f"... and {report.error_count - len(shown)} more")
        model_flag = f" --model {model}" if model else ""
        valid_flag = f" -v {validation}" if validation else ""
        raise DatasetError(
            f"{path}: {render.plural(report.error_count, 'problem')}; nothing was uploaded",
            problems=shown,
            hint=f"fix them (full report: anytune validate {path}{valid_flag} --provider "
            f"{client.provider_name}{model_flag}), or pass --skip-validation",
        )
    echo_err(f"Validated {path}: {report.summary_line()}")


def _upload(client: Client, path: Path) -> str:
    uploaded = client.files.create(path)
    echo_err(f"Uploaded {path} as {uploaded.id} ({render.file_size(uploaded)})")
    return uploaded.id


def prepare_and_create(
    client: Client,
    *,
    skip_validation: bool,
    training_file: str,
    validation_file: str | None,
    **spec: Any,
) -> Any:
    """Check everything, then validate and upload local files, then create the job."""
    train_path = _local_path(training_file, "--training-file")
    valid_path = _local_path(validation_file, "--validation-file")
    checked = build_spec(
        client,
        training_file="" if train_path else training_file,
        validation_file=("" if valid_path else validation_file) if validation_file else None,
        **spec,
    )
    if not skip_validation:
        common: dict[str, Any] = {
            "model": checked.model,
            "method": checked.method,
            "n_epochs": spec["n_epochs"],
            "options": checked.options,
            "before_job": True,
        }
        if train_path is not None:
            check_file(client, train_path, validation=valid_path, **common)
        elif valid_path is not None:
            check_file(client, valid_path, minimum=False, **common)
    final = replace(
        checked,
        training_file=_upload(client, train_path) if train_path else checked.training_file,
        validation_file=_upload(client, valid_path) if valid_path else checked.validation_file,
    )
    return client.jobs.create_from_spec(final)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--purpose", default="fine-tune", show_default=True)
@click.option("--model", "-m", help="Check the file against this model's limits too.")
@click.option(
    "--method",
    type=click.Choice(["supervised", "dpo"]),
    help="What the file is for (default: from its first line).",
)
@skip_validation_option
@provider_option()
@json_option
def upload(
    file: Path,
    purpose: str,
    model: str | None,
    method: str | None,
    skip_validation: bool,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check FILE, upload it, and print its file id alone on stdout (details on stderr)."""
    client = make_client(provider, provider_options)
    if not skip_validation and purpose == "fine-tune":
        check_file(client, file, model=model, method=method, n_epochs=None)
    uploaded = client.files.create(file, purpose=purpose)
    if as_json:
        print_json(uploaded.to_dict())
        return
    click.echo(uploaded.id)
    echo_err(render.file_line(uploaded))


@click.command()
@click.option("--training-file", "-t", required=True, help="File id, or a local path to upload.")
@click.option("--validation-file", "-v", help="File id, or a local path to upload.")
@job_spec_options
@skip_validation_option
@provider_option()
@json_option
def create(
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
    skip_validation: bool,
    **spec: Any,
) -> None:
    """Create a fine-tuning job; print its id alone on stdout (details on stderr).

    Local files are checked, then uploaded. The job runs in the background: follow it with
    `anytune wait JOB`.
    """
    client = make_client(provider, provider_options)
    # The job exists once create returns: print its id before any index warning.
    with index_warnings(defer=True):
        job = prepare_and_create(client, skip_validation=skip_validation, **spec)
        if as_json:
            print_json(job.to_dict())
        else:
            click.echo(job.id)
            sys.stdout.flush()
            for line in render.job_lines(job):
                echo_err(line)


@click.command()
@click.argument("training_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--validation-file", "-v", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@job_spec_options
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    help="Seconds between polls (default: per provider).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help="Give up waiting after this many seconds (exit 124).",
)
@click.option(
    "--max-outage",
    type=click.FloatRange(min=0),
    help="Stop waiting when the provider has not answered for this many seconds (exit 75; default: keep retrying).",
)
@skip_validation_option
@provider_option()
@json_option
def run(
    training_file: Path,
    validation_file: Path | None,
    interval: float | None,
    timeout: float | None,
    max_outage: float | None,
    skip_validation: bool,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
    **spec: Any,
) -> None:
    """Validate, upload, create and wait: TRAINING_FILE to a fine-tuned model in one go.

    \b
    stdout: the job id first (so a script can recover it), the fine-tuned model last (on
    success). With --json, two JSON lines: the created job, then the final job. Progress and
    details go to stderr. Exit code as `anytune wait`.
    """
    client = make_client(provider, provider_options)
    with index_warnings(defer=True):
        job = prepare_and_create(
            client,
            skip_validation=skip_validation,
            training_file=str(training_file),
            validation_file=str(validation_file) if validation_file else None,
            **spec,
        )
        if as_json:
            print_json(job.to_dict(), compact=True)
        else:
            click.echo(job.id)
        sys.stdout.flush()
    wait_and_report(
        client,
        job.id,
        interval=interval,
        timeout=timeout,
        max_outage=max_outage,
        as_json=as_json,
        compact=True,
    )


__all__ = ["create", "run", "upload"]
