"""``anytune files list`` and ``anytune files delete``: the provider's uploaded files, as in
OpenAI's Files API. Files are not in the job index, so the provider is always given (``-p``
or ``$ANYTUNE_PROVIDER``)."""

from __future__ import annotations

from collections.abc import Iterable

import click

from anytune.cli import render
from anytune.cli._common import (
    echo_err,
    emit,
    json_option,
    make_client,
    print_json,
    provider_option,
)
from anytune.types import FileObject


@click.group()
def files() -> None:
    """List and delete the files uploaded to a provider."""


def _row(file: FileObject) -> str:
    return (
        f"{file.id:<30} {'?' if file.bytes is None else f'{file.bytes:,}':>12} B  "
        f"{render.when(file.created_at):<24} "
        f"{file.purpose:<10} {file.filename}"
    )


@files.command("list")
@click.option("--purpose", help="Only files uploaded for this purpose, e.g. fine-tune.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@provider_option()
@json_option
def list_files(
    purpose: str | None,
    limit: int,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """List uploaded files, newest first (JSON: a list of file objects)."""
    found = make_client(provider, provider_options).files.list(purpose=purpose, limit=limit)

    def rows() -> Iterable[str]:
        if not found:
            yield "No files." if purpose is None else f"No files with purpose {purpose}."
        yield from map(_row, found)

    emit([f.to_dict() for f in found], as_json, rows)


@files.command("delete")
@click.argument("file_id")
@provider_option()
@json_option
def delete_file(
    file_id: str, provider: str | None, provider_options: tuple[str, ...], as_json: bool
) -> None:
    """Delete the uploaded file FILE_ID; prints its id (JSON: {"id", "deleted": true})."""
    client = make_client(provider, provider_options)
    client.files.delete(file_id)
    if as_json:
        print_json({"id": file_id, "provider": client.provider_name, "deleted": True})
        return
    click.echo(file_id)
    echo_err(f"Deleted file {file_id} from {client.provider_name}.")
