"""`anytune export`: write a fine-tuned model where it is served (providers that export)."""

from __future__ import annotations

from pathlib import Path

import click

from anytune.cli._common import emit, json_option, make_client, provider_option

TARGETS = ("peft", "merged", "vllm", "ollama", "gguf")


def _provider_for(model_or_job: str, provider: str | None) -> str | None:
    """``-p``, else the job index's provider for a job id, else local for a directory."""
    if provider:
        return provider
    from anytune.index import JobIndex

    found = JobIndex().lookup(model_or_job)
    if found:
        return found[0].provider
    return "local" if Path(model_or_job).is_dir() else None


@click.command("export")
@click.argument("model_or_job")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--to", "target", type=click.Choice(TARGETS), required=True, help="Where it is served."
)
@click.option("--name", help="Model name in the serving commands (default: the adapter's).")
@click.option(
    "--max-lora-rank", type=int, help="vLLM's --max-lora-rank (default: the smallest that fits)."
)
@click.option("--gguf-type", type=click.Choice(("f16", "f32")), default="f16", show_default=True)
@click.option("--force", is_flag=True, help="Replace what DIRECTORY holds.")
@provider_option(required=False)
@json_option
def export(
    model_or_job: str,
    directory: Path,
    target: str,
    name: str | None,
    max_lora_rank: int | None,
    gguf_type: str,
    force: bool,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Export MODEL_OR_JOB (a job id or an adapter directory) to DIRECTORY for --to: checked
    against the target's limits first (merged into the base model where it cannot take the
    adapter, saying why), with the command that serves it."""
    client = make_client(_provider_for(model_or_job, provider), provider_options)
    options = {"name": name, "max_lora_rank": max_lora_rank, "gguf_type": gguf_type, "force": force}
    result = client.provider.export_model(
        model_or_job, target, directory, options={k: v for k, v in options.items() if v is not None}
    )

    def human() -> list[str]:
        lines = [f"Exported to {result.directory} ({result.target}):"]
        lines += [f"  {f}" for f in result.files]
        lines += [f"Note: {n}" for n in result.notes]
        lines += ["Serve it with:", *[f"  {c}" for c in result.commands]] if result.commands else []
        return lines

    emit(result.to_dict(), as_json, human)
