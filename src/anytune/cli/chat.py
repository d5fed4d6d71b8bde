"""`anytune chat`: talk to a fine-tuned model (providers with the generate capability)."""

from __future__ import annotations

from typing import Any

import click

from anytune.cli._common import parse_pairs, provider_option, require_provider
from anytune.client import Client


@click.command()
@click.option("--model", "-m", required=True, help="Fine-tuned model (for local: the adapter dir).")
@click.option("--system", "-s", help="System prompt.")
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.argument("prompt", required=False)
@provider_option()
def chat(
    model: str,
    system: str | None,
    max_new_tokens: int,
    prompt: str | None,
    provider: str | None,
    provider_options: tuple[str, ...],
) -> None:
    """Reply to PROMPT, or chat interactively (one line per turn, Ctrl-D to end)."""
    client = Client(require_provider(provider), index=False, **parse_pairs(provider_options, "-P"))
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []

    def reply(text: str) -> str:
        messages.append({"role": "user", "content": text})
        answer = client.provider.generate(model, messages, max_new_tokens=max_new_tokens)
        messages.append({"role": "assistant", "content": answer})
        return answer

    if prompt is not None:
        click.echo(reply(prompt))
        return
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        if line.strip():
            click.echo(reply(line))
