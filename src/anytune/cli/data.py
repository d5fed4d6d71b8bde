"""``anytune validate``, ``anytune prepare`` and ``anytune data render``.

The logic lives in ``anytune.dataset``; these commands parse options, call it and render.
Nothing here imports a provider or an ML library unless ``--provider`` asks for one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anytune.cli._common import (
    echo_err,
    emit,
    json_option,
    parse_pairs,
    print_json,
    provider_option,
    redact,
    require_provider,
    set_exit_code,
)
from anytune.cli.render import plural
from anytune.errors import AnytuneError, DatasetError

if TYPE_CHECKING:
    from anytune.provider import Provider, RenderedExample

SHOWN_PROBLEMS = 50
_METHODS = ("supervised", "dpo")


def _dataset_failure(exc: DatasetError) -> click.exceptions.Exit:
    """Print a DatasetError with its problems (the CLI group prints only the message)."""
    echo_err(f"Error: {exc.message}")
    for problem in exc.problems[:SHOWN_PROBLEMS]:
        echo_err(f"  {problem}")
    if len(exc.problems) > SHOWN_PROBLEMS:
        echo_err(f"  ... and {len(exc.problems) - SHOWN_PROBLEMS} more")
    if exc.hint:
        echo_err(exc.hint)
    return click.exceptions.Exit(exc.exit_code)


def _epochs(value: str) -> int | str:
    """A whole number or "auto"; its range is checked as creating the job checks it."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a whole number or 'auto'", param_hint="--n-epochs"
        ) from None


def _create_provider(name: str, pairs: tuple[str, ...]) -> Provider:
    from anytune import registry

    return registry.create(name, **parse_pairs(pairs, "provider option"))


@click.command()
@click.argument("train_file", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "--validation-file",
    "-v",
    type=click.Path(path_type=Path),
    help="Also check this validation file, and its overlap with the training file.",
)
@provider_option(required=False)
@click.option("--model", "-m", help="Base model whose limits and price apply (with --provider).")
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option the job will use (e.g. -o max_length=512), with --provider.",
)
@click.option(
    "--method",
    type=click.Choice(_METHODS),
    default="supervised",
    show_default=True,
    help="Training method the file is for.",
)
@click.option(
    "--n-epochs",
    default="auto",
    show_default=True,
    help="Epochs for the billed-token estimate: a number or 'auto' (resolved as the provider would).",
)
@click.option(
    "--max-problems",
    default=SHOWN_PROBLEMS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Errors and warnings to print (each); all are counted.",
)
@json_option
def validate(
    train_file: Path,
    validation_file: Path | None,
    provider: str | None,
    provider_options: tuple[str, ...],
    model: str | None,
    options: tuple[str, ...],
    method: str,
    n_epochs: str,
    max_problems: int,
    as_json: bool,
) -> None:
    """Check TRAIN_FILE (chat or DPO JSONL) and report every problem at once.

    \b
    Problems print as FILE:LINE: what is wrong (how to fix it). Without --provider only the
    format is checked and tokens are estimated; with one, its minimum size, per-example
    token limit, token counting and price apply. Exit 0 when the data is usable, 1 when not.
    """
    from anytune.dataset.validate import validate_file, validate_for_provider

    epochs = _epochs(n_epochs)
    job_options = parse_pairs(options, "--option")
    try:
        if provider:
            backend = _create_provider(provider, provider_options)
            try:
                report = validate_for_provider(
                    train_file,
                    backend,
                    model,
                    validation_path=validation_file,
                    method=method,
                    n_epochs=epochs,
                    options=job_options,
                )
            finally:
                backend.close()
        else:
            if model:
                echo_err("Note: --model has no effect without --provider.")
            if job_options:
                raise click.UsageError("--option needs --provider (options are the provider's)")
            report = validate_file(
                train_file, validation_path=validation_file, method=method, n_epochs=epochs
            )
    except DatasetError as exc:
        raise _dataset_failure(exc) from None
    if not report.ok:
        set_exit_code(1)  # also when the reader of stdout goes away (`| head -1`)
    emit(report.to_dict(), as_json, lambda: report.format(max_problems=max_problems))
    if not report.ok:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("input_file", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Training JSONL to write.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "tsv"]),
    help="Input format (default: from the extension).",
)
@click.option(
    "--delimiter",
    help="CSV column separator, e.g. ';' (default: ',' for CSV, tab for TSV).",
)
@click.option(
    "--input-field", default="input", show_default=True, help="Field/column with the user message."
)
@click.option(
    "--output-field",
    default="output",
    show_default=True,
    help="Field/column with the assistant reply.",
)
@click.option(
    "--system-field",
    default="system_prompt",
    show_default=True,
    help="Field/column with a per-record system prompt (optional).",
)
@click.option("--system-prompt", help="System prompt for records that have none.")
@click.option(
    "--dpo", is_flag=True, help="Write DPO preference examples from prompt/chosen/rejected records."
)
@click.option(
    "--prompt-field", default="prompt", show_default=True, help="With --dpo: the user message."
)
@click.option(
    "--chosen-field", default="chosen", show_default=True, help="With --dpo: the preferred reply."
)
@click.option(
    "--rejected-field", default="rejected", show_default=True, help="With --dpo: the worse reply."
)
@click.option(
    "--validation-split",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    help="Fraction of examples to write to a validation file, e.g. 0.1.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for the validation split."
)
@click.option(
    "--validation-output",
    type=click.Path(path_type=Path),
    help="Validation JSONL (default: OUTPUT with .valid.jsonl).",
)
@click.option("--skip-invalid", is_flag=True, help="Leave bad records out instead of failing.")
@click.option(
    "--keep-duplicates", is_flag=True, help="Keep identical examples (not with --validation-split)."
)
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@json_option
def prepare(
    input_file: Path,
    output: Path,
    fmt: str | None,
    delimiter: str | None,
    input_field: str,
    output_field: str,
    system_field: str,
    system_prompt: str | None,
    dpo: bool,
    prompt_field: str,
    chosen_field: str,
    rejected_field: str,
    validation_split: float,
    seed: int,
    validation_output: Path | None,
    skip_invalid: bool,
    keep_duplicates: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Convert INPUT_FILE records (JSONL, CSV or TSV) into chat training JSONL.

    \b
    Each record's input/output (and optional system prompt) becomes
      {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}]}
    With --dpo, prompt/chosen/rejected become preference examples. Identical examples are
    written once; with --validation-split, examples sharing a prompt stay on one side.
    Bad records are listed as FILE:LINE: problem and nothing is written.
    """
    from anytune.dataset.prepare import prepare_file

    if validation_output is not None and not validation_split:
        raise click.UsageError("--validation-output needs --validation-split")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise click.UsageError(f"--delimiter {delimiter!r} must be one character (or 'tab')")
    fields = {
        "input": input_field,
        "output": output_field,
        "system": system_field,
        "prompt": prompt_field,
        "chosen": chosen_field,
        "rejected": rejected_field,
    }
    try:
        result = prepare_file(
            input_file,
            output,
            fmt=fmt,
            fields=fields,
            system_prompt=system_prompt,
            dpo=dpo,
            validation_split=validation_split,
            seed=seed,
            validation_output=validation_output,
            force=force,
            skip_invalid=skip_invalid,
            keep_duplicates=keep_duplicates,
            delimiter=delimiter,
        )
    except DatasetError as exc:
        raise _dataset_failure(exc) from None
    if not as_json:
        for problem in result.skipped[:SHOWN_PROBLEMS]:
            echo_err(f"skipped {problem}")

    def human() -> Iterator[str]:
        kind = "preference example" if dpo else "example"
        yield f"Wrote {plural(result.written, kind)} to {result.output}."
        if result.validation_output is not None:
            yield (
                f"Wrote {plural(result.validation_written, kind)} to {result.validation_output} "
                f"(validation split {validation_split:g}, seed {seed}; no example or prompt in both)."
            )
        yield (
            f"Read {plural(result.records, 'record')}; dropped "
            f"{plural(result.duplicates_dropped, 'duplicate')}; skipped "
            f"{plural(result.skipped_count, 'bad record')}."
        )

    emit(result.to_dict(), as_json, human)


@click.group()
def data() -> None:
    """Inspect training data."""


def _use_color(choice: bool | None) -> bool:
    if choice is not None:
        return choice
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


@data.command("render")
@click.argument("file", type=click.Path(path_type=Path))
@provider_option(required=True)
@click.option(
    "--model",
    "-m",
    required=True,
    help="Base model whose chat template and tokenizer render the example.",
)
@click.option(
    "--limit",
    "-n",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Examples to render.",
)
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option used when rendering (repeatable).",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour trained text (default: when printing to a terminal).",
)
@json_option
def render(
    file: Path,
    provider: str | None,
    provider_options: tuple[str, ...],
    model: str,
    limit: int,
    options: tuple[str, ...],
    color: bool | None,
    as_json: bool,
) -> None:
    """Show the first examples of FILE as the provider trains on them.

    \b
    Trained text (where the loss is computed) is green and bold on a terminal; otherwise it
    is wrapped in [[TRAIN]] ... [[/TRAIN]]. Each example shows its tokens and trained tokens.
    """
    from anytune.dataset.reader import iter_lines
    from anytune.dataset.render import TRAIN_CLOSE, TRAIN_OPEN, marked_text, rendered_to_dict
    from anytune.provider import validate_options

    name = require_provider(provider)
    if not file.is_file():
        raise AnytuneError(f"{file}: no such file", hint="check the path")
    backend = _create_provider(name, provider_options)
    try:
        render_options: dict[str, Any] = parse_pairs(options, "--option")
        if backend.option_specs:
            render_options = validate_options(name, backend.option_specs, render_options)
        rendered: list[RenderedExample] = []
        problems: list[str] = []
        for raw in iter_lines(file):
            if len(rendered) + len(problems) >= limit:
                break
            if raw.error is not None or not isinstance(raw.record, dict):
                problems.append(f"{file}:{raw.lineno}: {raw.error or 'expected a JSON object'}")
                continue
            try:
                rendered.append(
                    backend.render_example(
                        raw.record, model=model, line=raw.lineno, options=render_options
                    )
                )
            except DatasetError as exc:
                problems.append(f"{file}:{raw.lineno}: {exc.message}")
    finally:
        backend.close()
    if as_json:
        print_json({"examples": [rendered_to_dict(r) for r in rendered], "errors": problems})
    else:
        use_color = _use_color(color)
        legend = "green bold" if use_color else f"between {TRAIN_OPEN} and {TRAIN_CLOSE}"
        click.echo(f"Trained text is shown {legend}.")
        for r in rendered:
            flag = ", TRUNCATED" if r.truncated else ""
            click.echo(
                f"\n=== {file}:{r.line}  tokens {r.tokens:,}, trained {r.trained_tokens:,}{flag}"
            )
            click.echo(redact(marked_text(r, color=use_color)), color=use_color)
        for problem in problems:
            echo_err(problem)
    if problems:
        raise click.exceptions.Exit(1)


__all__ = ["data", "prepare", "render", "validate"]
