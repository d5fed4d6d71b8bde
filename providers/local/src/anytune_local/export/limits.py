"""What an adapter is, and whether each serving target can take it as an adapter.

The published limits checked (as of late 2026):

- vLLM (``--enable-lora``): LoRA adapters whose rank is at most ``--max-lora-rank`` (one of
  1, 8, 16, 32, 64, 128, 256, 320, 512); no ``modules_to_save`` (fully trained embeddings or
  output layer), no DoRA, no tokens added to the vocabulary.
- llama.cpp (``convert_lora_to_gguf.py``): LoRA on linear layers only; no fully trained
  embeddings or ``lm_head`` (``modules_to_save``), no DoRA, no new tokens.
- Ollama (``ADAPTER`` of safetensors): the llama.cpp rules, and only the model families
  Ollama converts adapters for (Llama, Mistral, Gemma).

A target that cannot take the adapter gets the base model with the adapter merged in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.errors import InvalidArgumentError

VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for ``--max-lora-rank``."""
OLLAMA_ADAPTER_FAMILIES = frozenset({"llama", "mistral", "mixtral", "gemma", "gemma2"})
EMBEDDING_MODULES = frozenset({"embed_tokens", "lm_head", "wte", "embed_out", "word_embeddings"})


@dataclass(frozen=True)
class AdapterInfo:
    path: Path
    base: str
    """The base model (a directory or a hub id)."""
    rank: int
    use_dora: bool
    modules_to_save: tuple[str, ...]
    target_modules: tuple[str, ...]
    model_type: str | None
    """The base model's ``config.json`` ``model_type`` (None when it cannot be read)."""
    new_tokens: int
    """Tokens the adapter's tokenizer has beyond the base model's."""

    @property
    def base_is_local(self) -> bool:
        return Path(self.base).is_dir()


def _vocab_size(model_dir: Path) -> int | None:
    tokenizer = model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        return None
    from tokenizers import Tokenizer

    return int(Tokenizer.from_file(str(tokenizer)).get_vocab_size(with_added_tokens=True))


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value or ())


def read_adapter(path: Path) -> AdapterInfo:
    """The adapter directory's settings (``InvalidArgumentError`` if it is not one)."""
    config_file = path / "adapter_config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{path} is not a PEFT adapter directory ({config_file}: {exc})",
            hint="pass a job id or the job's fine_tuned_model directory",
            provider="local",
        ) from exc
    base = str(config.get("base_model_name_or_path") or "")
    model_type = None
    base_config = Path(base) / "config.json"
    if base_config.is_file():
        model_type = json.loads(base_config.read_text(encoding="utf-8")).get("model_type")
    ours, theirs = _vocab_size(path), _vocab_size(Path(base))
    return AdapterInfo(
        path=path,
        base=base,
        rank=int(config.get("r") or 0),
        use_dora=bool(config.get("use_dora")),
        modules_to_save=_names(config.get("modules_to_save")),
        target_modules=_names(config.get("target_modules")),
        model_type=model_type,
        new_tokens=max(0, ours - theirs) if ours is not None and theirs is not None else 0,
    )


def _common(info: AdapterInfo, who: str) -> list[str]:
    problems = []
    if info.modules_to_save:
        problems.append(
            f"{who} cannot load adapters with modules_to_save ({', '.join(info.modules_to_save)}"
            " trained in full)"
        )
    if info.use_dora:
        problems.append(f"{who} does not support DoRA adapters")
    if info.new_tokens:
        problems.append(f"{who} cannot add the {info.new_tokens} token(s) new to the vocabulary")
    return problems


def vllm_rank(info: AdapterInfo, max_lora_rank: int | None) -> int:
    """``--max-lora-rank`` for this adapter: the given one, else the smallest that fits."""
    if max_lora_rank is not None:
        if max_lora_rank not in VLLM_RANKS:
            raise InvalidArgumentError(
                f"--max-lora-rank {max_lora_rank} is not a value vLLM accepts",
                hint=f"one of {', '.join(map(str, VLLM_RANKS))}",
                provider="local",
            )
        return max_lora_rank
    return next((r for r in VLLM_RANKS if r >= info.rank), VLLM_RANKS[-1])


def vllm_problems(info: AdapterInfo, max_lora_rank: int) -> list[str]:
    problems = _common(info, "vLLM")
    if info.rank > max_lora_rank:
        problems.append(f"the adapter's rank {info.rank} is above --max-lora-rank {max_lora_rank}")
    return problems


def llamacpp_problems(info: AdapterInfo) -> list[str]:
    problems = _common(info, "llama.cpp's LoRA converter")
    embedded = sorted(EMBEDDING_MODULES & set(info.target_modules))
    if embedded:
        problems.append(f"llama.cpp's LoRA converter takes no LoRA on {', '.join(embedded)}")
    return problems


def ollama_problems(info: AdapterInfo) -> list[str]:
    problems = [p.replace("llama.cpp's LoRA converter", "Ollama") for p in llamacpp_problems(info)]
    if info.model_type not in OLLAMA_ADAPTER_FAMILIES:
        problems.append(
            f"Ollama's ADAPTER takes only {', '.join(sorted(OLLAMA_ADAPTER_FAMILIES))} models, "
            f"not {info.model_type or 'an unknown model type'}"
        )
    if not info.base_is_local:
        problems.append(f"the base model {info.base} is not a local directory FROM can name")
    return problems


__all__ = [
    "OLLAMA_ADAPTER_FAMILIES",
    "VLLM_RANKS",
    "AdapterInfo",
    "llamacpp_problems",
    "ollama_problems",
    "read_adapter",
    "vllm_problems",
    "vllm_rank",
]
