"""``anytune local ...``: commands of the local provider (the job commands are the core's).

- ``make-tiny-model DIR``: a tiny random chat model for tests and demos.
- ``worker-log JOB``: the worker's output (tracebacks, torchrun messages).
- ``gc``: remove uploaded files no job uses and checkpoints of finished jobs (``--job``:
  one job's checkpoints).
"""

from __future__ import annotations

from pathlib import Path

import click

from anytune.cli._common import emit, json_option
from anytune.errors import ConfigurationError, NotFoundError


def _home(value: str | None) -> Path:
    from anytune_local.provider import LocalProvider

    return LocalProvider(home=value).home


home_option = click.option(
    "--home",
    envvar="ANYTUNE_LOCAL_HOME",
    help="The local provider's store (default: $ANYTUNE_HOME/local).",
)


@click.group()
def local() -> None:
    """Commands of the local provider (trains on this machine)."""


@local.command("make-tiny-model")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random weights.")
@click.option("--force", is_flag=True, help="Write into DIRECTORY even if it is not empty.")
@json_option
def make_tiny_model_command(directory: Path, seed: int, force: bool, as_json: bool) -> None:
    """Write a tiny, randomly initialised chat model to DIRECTORY (for tests and demos).

    \b
    It has a locally built tokenizer and a ChatML chat template, needs no download, and
    trains in seconds on a CPU. Its answers are noise until fine-tuned: it is a test/demo
    model, not a model for real use. Example:
      anytune local make-tiny-model /tmp/tiny
      anytune run examples/sentiment/train.jsonl --provider local --model /tmp/tiny
    """
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigurationError(
            f"{directory} is not empty", hint="choose another directory or pass --force"
        )
    from transformers.utils import logging as transformers_logging

    from anytune_local.recipe.tiny import make_tiny_model

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    path = make_tiny_model(directory, seed=seed)
    emit(
        {"path": str(path), "seed": seed},
        as_json,
        lambda: f"Wrote a tiny random test model to {path} (for tests and demos only).",
    )


@local.command("worker-log")
@click.argument("job_id")
@click.option(
    "--lines", "-n", type=int, default=50, show_default=True, help="Last N lines (0: all)."
)
@home_option
def worker_log(job_id: str, lines: int, home: str | None) -> None:
    """Print the worker's log of JOB_ID (its output, tracebacks and torchrun messages)."""
    from anytune_local.storage import check_id

    log = _home(home) / "jobs" / check_id("job", job_id) / "worker.log"
    if not log.is_file():
        raise NotFoundError(
            f"no worker log for {job_id} at {log}",
            hint="check the job id (`anytune list --provider local`) or pass --home",
        )
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in text[-lines:] if lines > 0 else text:
        click.echo(line)


@local.command("gc")
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@click.option(
    "--job",
    "job_id",
    metavar="JOB",
    help="Only remove this finished job's checkpoints (failed jobs included); keep its adapter.",
)
@home_option
@json_option
def gc(dry_run: bool, job_id: str | None, home: str | None, as_json: bool) -> None:
    """Remove uploaded files no job uses, and checkpoints of succeeded/cancelled jobs.

    Adapters (fine-tuned models) and everything of paused or failed jobs are kept, unless
    --job names one finished job whose checkpoints should go.
    """
    from anytune_local.cleanup import collect, delete_job_checkpoints
    from anytune_local.storage import check_id
    from anytune_local.store import Store

    store = Store(_home(home))
    if job_id is not None:
        result = delete_job_checkpoints(store, check_id("job", job_id), dry_run=dry_run)
    else:
        result = collect(store, dry_run=dry_run)
    verb = "Would free" if dry_run else "Freed"

    def human() -> list[str]:
        rows = [f"file {f}" for f in result.files]
        rows += [f"checkpoints {d}" for d in result.checkpoint_dirs]
        rows += [f"partial upload {p}" for p in result.partial_uploads]
        rows.append(f"{verb} {result.freed_bytes / 1e6:.1f} MB.")
        return rows

    emit(
        {
            "dry_run": dry_run,
            "files": result.files,
            "checkpoint_dirs": [str(d) for d in result.checkpoint_dirs],
            "partial_uploads": [str(p) for p in result.partial_uploads],
            "freed_bytes": result.freed_bytes,
        },
        as_json,
        human,
    )
