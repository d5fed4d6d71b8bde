"""`anytune download JOB DIR`: bring a job's fine-tuned model (PEFT adapter) to this machine,
for providers that keep it elsewhere (``Provider.download``)."""

from __future__ import annotations

from pathlib import Path

import click

from anytune.cli._common import emit, json_option, provider_option
from anytune.cli.jobs import client_for_job


@click.command("download")
@click.argument("job_id")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@provider_option(required=False)
@json_option
def download(
    job_id: str,
    directory: Path,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Download JOB_ID's fine-tuned model into DIRECTORY (new or empty)."""
    client = client_for_job(job_id, provider, provider_options)
    written = client.provider.download(job_id, directory)

    def human() -> list[str]:
        return [f"Downloaded {job_id}'s fine-tuned model to {written}"]

    emit({"job_id": job_id, "path": str(written)}, as_json, human)
