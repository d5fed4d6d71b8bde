"""`anytune rerun`: the same job again, on a new base model or another provider."""

from __future__ import annotations

import click

from anytune.cli._common import echo_err, emit, json_option, parse_pairs, provider_option


@click.command()
@click.argument("job_id")
@click.option("--model", "-m", help="A new base model (default: the recorded job's).")
@provider_option(required=False)
@json_option
def rerun(
    job_id: str,
    model: str | None,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Re-create recorded job JOB_ID with its exact spec (files uploaded again where the
    provider differs); `anytune list` shows the new job's parent."""
    from anytune.rerun import rerun as run_again

    done = run_again(
        job_id,
        model=model,
        provider=provider,
        provider_options=parse_pairs(provider_options, "--provider-option"),
    )
    for note in done.notes:
        echo_err(note)
    emit(
        {"job": done.job.to_dict(), "parent": done.parent, "notes": list(done.notes)},
        as_json,
        lambda: [done.job.id],
    )
