"""`anytune chat`: talk to a fine-tuned model (providers with the generate capability).

The reply is printed as the model writes it (the provider's ``generate_stream``). Ctrl-C
during a reply stops generation; in a chat the part already printed stays in the history.
"""

from __future__ import annotations

from typing import Any

import click

from anytune.cli._common import EXIT_INTERRUPTED, echo_err, make_client, provider_option
from anytune.client import Client


@click.command()
@click.option(
    "--model",
    "-m",
    required=True,
    help="Fine-tuned model: a job id (its provider is taken from anytune's index), or for "
    "local an adapter or model directory.",
)
@click.option("--system", "-s", help="System prompt.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="0 is greedy (the same reply every time); above 0 samples.",
)
@click.option(
    "--top-p",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Sample from the smallest set of tokens whose probability reaches this.",
)
@click.option("--seed", type=int, help="Make sampling repeatable (where the provider can).")
@click.argument("prompt", required=False)
@provider_option(required=False)
def chat(
    model: str,
    system: str | None,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    prompt: str | None,
    provider: str | None,
    provider_options: tuple[str, ...],
) -> None:
    """Reply to PROMPT, or chat interactively (one line per turn, Ctrl-D to end)."""
    from anytune.evaluation.runner import resolve

    client = _client(model, provider, provider_options)
    model = resolve(client.provider, model).model  # a job id: its fine-tuned model
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []

    def reply(text: str) -> bool:
        """Print the reply to ``text`` as it comes; False when Ctrl-C stopped it."""
        messages.append({"role": "user", "content": text})
        stream = client.provider.generate_stream(
            model,
            list(messages),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        parts: list[str] = []
        try:
            for delta in stream:
                parts.append(delta)
                click.echo(delta, nl=False)  # click.echo flushes
        except KeyboardInterrupt:
            return False
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops generation
            click.echo()
            messages.append({"role": "assistant", "content": "".join(parts)})
        return True

    if prompt is not None:
        if not reply(prompt):
            echo_err("anytune: stopped (Ctrl-C)")
            raise click.exceptions.Exit(EXIT_INTERRUPTED)
        return
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        if line.strip() and not reply(line):
            echo_err("(stopped; Ctrl-D or Ctrl-C at the prompt ends the chat)")


def _client(model: str, provider: str | None, pairs: tuple[str, ...]) -> Client:
    """``-p``'s provider; without it, the one anytune's index recorded for a job id given
    as the model."""
    if not provider:
        from anytune.index import JobIndex

        if JobIndex().lookup(model):
            from anytune.cli.jobs import client_for_job

            return client_for_job(model, None, pairs)
    return make_client(provider, pairs, index=False)
