"""``anytune export`` for local adapters: to PEFT, a merged model, vLLM, Ollama or GGUF.

Each target's limits (``limits``) are checked before anything is written; a target that
cannot take the adapter gets the base model with the adapter merged in, and the result says
why. What serves the export is written next to it: ``serve.sh`` with the exact ``vllm serve``
command, an Ollama ``Modelfile`` whose template and stop tokens are the model's own.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

from anytune.errors import ConflictError, InvalidArgumentError
from anytune.provider import ExportResult
from anytune_local.export.limits import (
    AdapterInfo,
    llamacpp_problems,
    ollama_problems,
    read_adapter,
    vllm_problems,
    vllm_rank,
)

TARGETS = ("peft", "merged", "vllm", "ollama", "gguf")
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "anytune_spec.json")


def _prepare(directory: Path, force: bool) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not force:
            raise ConflictError(
                f"{directory} exists and is not empty",
                hint="choose a new directory, or pass --force to replace what is in it",
                provider="local",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


def _copy_adapter(info: AdapterInfo, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in info.path.iterdir():
        if item.is_file() and (
            item.name in _ADAPTER_FILES
            or item.name.startswith("tokenizer")
            or item.name in {"special_tokens_map.json", "chat_template.jinja"}
        ):
            shutil.copy2(item, target / item.name)


def _merge(info: AdapterInfo, target: Path) -> None:
    from anytune_local.recipe.runtime import merge_adapter

    merge_adapter(info.path, target)
    config = Path(info.base) / "generation_config.json"
    if config.is_file():  # the stop tokens generation uses
        shutil.copy2(config, target / "generation_config.json")


def _files(directory: Path) -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()))


def _why(problems: list[str]) -> str:
    return "merged the adapter into its base model, because " + "; ".join(problems)


def export_vllm(info: AdapterInfo, out: Path, name: str, max_lora_rank: int | None) -> ExportResult:
    rank = vllm_rank(info, max_lora_rank)
    problems = vllm_problems(info, rank)
    if problems:
        _merge(info, out / "merged")
        command = (
            f"vllm serve {shlex.quote(str(out / 'merged'))} --served-model-name {shlex.quote(name)}"
        )
        notes = (_why(problems),)
    else:
        _copy_adapter(info, out / "adapter")
        module = shlex.quote(f"{name}={out / 'adapter'}")
        command = (
            f"vllm serve {shlex.quote(info.base)} --enable-lora "
            f"--lora-modules {module} --max-lora-rank {rank}"
        )
        notes = (f"the adapter (rank {info.rank}) is served on its base model {info.base}",)
    (out / "serve.sh").write_text(f"#!/bin/sh\nexec {command}\n", encoding="utf-8")
    (out / "serve.sh").chmod(0o755)
    return ExportResult("vllm", out, _files(out), (command,), notes, merged=bool(problems))


def _template_and_stops(model_dir: Path) -> tuple[str, list[str]]:
    from anytune_local.export import ollama
    from anytune_local.recipe.chat import ChatTemplate
    from anytune_local.recipe.setup import generation_stops
    from anytune_local.recipe.tokenize import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    template = ChatTemplate(
        tokenizer, model=str(model_dir), stops=generation_stops(str(model_dir), tokenizer)
    )

    def render(messages: list[dict[str, Any]], gen: bool) -> str:
        return template.render(messages, None, gen=gen)

    pieces = ollama.derive(render)
    ollama.check(pieces, render)
    stops = list(template.stops)
    end = pieces.assistant_end.strip()
    if end and end not in stops:
        stops.append(end)
    return ollama.go_template(pieces), stops


def export_ollama(info: AdapterInfo, out: Path, name: str) -> ExportResult:
    from anytune_local.export import ollama

    problems = ollama_problems(info)
    if problems:
        _merge(info, out / "merged")
        source, adapter, notes = "./merged", None, (_why(problems),)
    else:
        _copy_adapter(info, out / "adapter")
        source, adapter = str(Path(info.base).resolve()), "./adapter"
        notes = (f"ADAPTER on its {info.model_type} base model {info.base}",)
    try:
        template, stops = _template_and_stops(info.path)
    except ollama.NotExpressible as exc:
        raise InvalidArgumentError(
            f"cannot write an Ollama TEMPLATE for {info.path}: {exc.message}",
            hint="export --to merged (or gguf) and write the Modelfile's TEMPLATE by hand",
            provider="local",
        ) from exc
    (out / "Modelfile").write_text(
        ollama.modelfile(source, adapter, template, stops), encoding="utf-8"
    )
    commands = (
        f"cd {shlex.quote(str(out))} && ollama create {shlex.quote(name)} -f Modelfile",
        f"ollama run {shlex.quote(name)}",
    )
    return ExportResult("ollama", out, _files(out), commands, notes, merged=bool(problems))


def export_gguf(info: AdapterInfo, out: Path, name: str, kind: str) -> ExportResult:
    from anytune_local.export.gguf_file import require_gguf, write_gguf

    require_gguf()  # before the merge, which takes a while
    merged = out / "merged"
    _merge(info, merged)
    path = write_gguf(merged, out / f"{name}.{kind}.gguf", kind=kind)
    shutil.rmtree(merged)
    problems = llamacpp_problems(info)
    notes = [f"the adapter is merged into the base model ({kind})"]
    if problems:
        notes.append("a LoRA GGUF would not work: " + "; ".join(problems))
    commands = (f"llama-cli -m {shlex.quote(str(path))} -cnv",)
    return ExportResult("gguf", out, _files(out), commands, tuple(notes), merged=True)


def export_adapter(
    adapter: Path,
    target: str,
    out: Path,
    *,
    name: str | None = None,
    max_lora_rank: int | None = None,
    gguf_type: str = "f16",
    force: bool = False,
) -> ExportResult:
    """Export the adapter directory ``adapter`` to ``out`` for ``target`` (``TARGETS``)."""
    if target not in TARGETS:
        raise InvalidArgumentError(
            f"unknown export target {target!r}", hint=f"one of {', '.join(TARGETS)}"
        )
    info = read_adapter(adapter)
    name = name or adapter.name
    _prepare(out, force)
    if target == "peft":
        _copy_adapter(info, out)
        return ExportResult("peft", out, _files(out), (), (f"base model: {info.base}",))
    if target == "merged":
        _merge(info, out)
        return ExportResult("merged", out, _files(out), (), (f"merged into {info.base}",), True)
    if target == "vllm":
        return export_vllm(info, out, name, max_lora_rank)
    if target == "ollama":
        return export_ollama(info, out, name)
    return export_gguf(info, out, name, gguf_type)


__all__ = ["TARGETS", "export_adapter"]
