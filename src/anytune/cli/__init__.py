"""The ``anytune`` command line. Commands are imported only when invoked, so ``--help`` and
data commands start without loading any provider or ML library."""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute" (modules under anytune.cli)
COMMANDS: dict[str, tuple[str, str]] = {
    "providers": ("anytune.cli.providers:providers", "List installed providers and their options."),
    "validate": (
        "anytune.cli.data:validate",
        "Check a training file against the format and a provider's rules.",
    ),
    "prepare": (
        "anytune.cli.data:prepare",
        "Convert input/output records (JSONL or CSV) to chat JSONL.",
    ),
    "data": ("anytune.cli.data:data", "Inspect training data (render: what is trained)."),
    "upload": ("anytune.cli.submit:upload", "Upload a training file to a provider."),
    "files": ("anytune.cli.files:files", "List or delete a provider's uploaded files."),
    "create": ("anytune.cli.submit:create", "Create a fine-tuning job."),
    "run": ("anytune.cli.submit:run", "Validate, upload, create and wait, in one go."),
    "status": ("anytune.cli.jobs:status", "Show a job."),
    "wait": ("anytune.cli.jobs:wait", "Wait for a job to finish, showing progress."),
    "events": ("anytune.cli.jobs:events", "Show a job's events (--follow to stream them)."),
    "list": ("anytune.cli.jobs:list_jobs", "List jobs."),
    "checkpoints": ("anytune.cli.jobs:checkpoints", "List a job's checkpoints."),
    "cancel": ("anytune.cli.jobs:cancel", "Cancel a job."),
    "pause": ("anytune.cli.jobs:pause", "Pause a job (providers that support it)."),
    "resume": ("anytune.cli.jobs:resume", "Resume a paused (or interrupted) job."),
    "eval": (
        "anytune.cli.evaluate:evaluate",
        "Score a fine-tuned model (and a baseline) on held-out examples.",
    ),
    "plot": (
        "anytune.cli.plot:plot",
        "Draw a job's loss curves (anytune[plot]).",
    ),
    "download": (
        "anytune.cli.download:download",
        "Download a job's fine-tuned model (PEFT adapter).",
    ),
    "export": (
        "anytune.cli.export:export",
        "Write a fine-tuned model for vLLM, Ollama, llama.cpp (GGUF) or as files.",
    ),
    "rerun": (
        "anytune.cli.rerun:rerun",
        "Re-create a recorded job (a new base model, another provider).",
    ),
    "chat": ("anytune.cli.chat:chat", "Generate a reply from a fine-tuned model (local provider)."),
    "serve": (
        "anytune.cli.serve:serve",
        "Serve OpenAI's fine-tuning API over a provider (anytune[serve]).",
    ),
}

PLUGIN_GROUP = "anytune.cli"
"""Entry-point group through which provider distributions add command groups
(e.g. ``anytune local make-tiny-model``)."""


def _plugin_commands() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(_plugin_commands())]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, _, attr = COMMANDS[cmd_name][0].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        plugins = _plugin_commands()
        if cmd_name in plugins:
            loaded: click.Command = plugins[cmd_name].load()
            return loaded
        return None

    def invoke(self, ctx: click.Context) -> Any:
        from anytune.cli._common import invoke_with_errors

        return invoke_with_errors(ctx, lambda: super(LazyGroup, self).invoke(ctx))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        rows += [(name, f"Commands of the {name} provider.") for name in sorted(_plugin_commands())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="anytune")
@click.option("--debug", is_flag=True, envvar="ANYTUNE_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """anytune: one training JSONL, any fine-tuning provider.

    \b
    Exit codes: 0 ok / succeeded, 1 failed or error, 2 usage mistake, 3 job cancelled,
    75 stopped waiting (provider unreachable for --max-outage, or an error while polling;
    the job keeps running), 124 wait timed out (the job keeps running), 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="anytune")
    finally:
        # The process ends here. Python's shutdown would first walk every object the
        # command's libraries created (measured: 1-2 s after a command that loaded a
        # tokenizer, which imports torch); frozen objects are left to the OS. atexit
        # handlers and stream flushes still run.
        import gc

        gc.freeze()


__all__ = ["cli", "main"]
