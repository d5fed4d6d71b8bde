"""`anytune eval`: score a fine-tuned model (and a baseline) on held-out chat examples."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from anytune.cli._common import emit, json_option, make_client, provider_option

if TYPE_CHECKING:
    from anytune.client import Client
    from anytune.evaluation import EvalProgress


def client_for(model_or_job: str, provider: str | None, pairs: tuple[str, ...]) -> Client:
    """``-p``, else the provider the job index recorded for a job id, else an error."""
    if not provider:
        from anytune.index import JobIndex

        found = JobIndex().lookup(model_or_job)
        if found:
            return make_client(found[0].provider, pairs, **dict(found[0].connection))
    return make_client(provider, pairs)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[EvalProgress | None]:
    """A rich bar on stderr per evaluated model (terminals only)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(model: str, done: int, total: int) -> None:
            if model not in tasks:
                tasks[model] = bar.add_task(f"generating with {model}", total=total)
            bar.update(tasks[model], completed=done)  # type: ignore[arg-type]

        yield update


@click.command("eval")
@click.argument("model_or_job")
@click.option(
    "--file",
    "-f",
    "file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Held-out chat JSONL; each line's last message is the reference answer.",
)
@click.option("--baseline", "-b", help="A model to compare with (e.g. the base model).")
@click.option(
    "--train-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Training file to check for overlap (default: the job's, where the provider has it).",
)
@click.option(
    "--allow-overlap", is_flag=True, help="Evaluate even if the file repeats training examples."
)
@click.option(
    "--max-tokens", "max_new_tokens", type=click.IntRange(1), default=128, show_default=True
)
@click.option(
    "--temperature", type=click.FloatRange(0.0), default=0.0, show_default=True, help="0: greedy."
)
@click.option(
    "--top-p", type=click.FloatRange(0.0, 1.0, min_open=True), default=1.0, show_default=True
)
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Evaluate only the first N examples.")
@click.option(
    "--report",
    "-o",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here: markdown (.md) or JSON (.json); both with a .md path: "
    "the JSON beside it.",
)
@provider_option(required=False)
@json_option
def evaluate(
    model_or_job: str,
    file: Path,
    baseline: str | None,
    train_file: Path | None,
    allow_overlap: bool,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    batch_size: int,
    limit: int | None,
    report_path: Path | None,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Evaluate MODEL_OR_JOB on --file: exact match, token F1, reference loss (where the
    provider computes it), and the per-example differences with --baseline."""
    import json

    from anytune.evaluation import evaluate as run_eval

    client = client_for(model_or_job, provider, provider_options)
    with progress_bar(not as_json) as progress:
        report = run_eval(
            client.provider,
            model_or_job,
            file,
            baseline=baseline,
            training_file=train_file,
            allow_overlap=allow_overlap,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            batch_size=batch_size,
            limit=limit,
            progress=progress,
        )
    data = report.to_dict()
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        if report_path.suffix == ".json":
            report_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        else:
            report_path.write_text(report.markdown(), encoding="utf-8")
            report_path.with_suffix(".json").write_text(
                json.dumps(data, indent=2) + "\n", encoding="utf-8"
            )
    emit(data, as_json, report.summary_lines)
