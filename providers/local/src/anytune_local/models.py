"""Base models on disk: telling a path from a hub id, checking it early, counting tokens.

Nothing here imports transformers; the token counter loads the tokenizer (through the
recipe) on its first use only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from anytune.errors import ConfigurationError
from anytune.provider import TokenCounter

_MODEL_FILES = ("config.json", "adapter_config.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def looks_like_path(model: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else with a separator is a path."""
    return (
        model.startswith(("/", "./", "../", "~", "."))
        or model.count("/") > 1
        or "\\" in model
        or os.path.isabs(model)
    )


def check_model(model: str) -> None:
    """Raise ``ConfigurationError`` for a local model path that cannot be a model."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigurationError(
                f"model {model!r} is a file; pass the model's directory (with config.json)"
            )
        if not any((path / name).is_file() for name in _MODEL_FILES):
            raise ConfigurationError(
                f"model directory {model!r} has no config.json, so it is not a transformers model",
                hint="pass a directory saved with save_pretrained(), a hub id, or make a test model "
                "with `anytune local make-tiny-model DIR`",
            )
        return
    if looks_like_path(model):
        raise ConfigurationError(
            f"model path {model!r} does not exist",
            hint="pass an existing model directory or a hub id like Qwen/Qwen2.5-0.5B-Instruct",
        )


def resolve_model(model: str) -> str:
    """An existing local path made absolute (workers run elsewhere); a hub id unchanged."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def has_tokenizer(model: str) -> bool:
    path = Path(model).expanduser()
    return path.is_dir() and any((path / name).is_file() for name in _TOKENIZER_FILES)


class LazyTokenCounter(TokenCounter):
    """Exact counts with the model's tokenizer and chat template, loaded on first use."""

    exact = True

    def __init__(self, model: str) -> None:
        self.model = resolve_model(model)
        self.description = f"{Path(self.model).name} tokenizer + chat template (exact)"
        self._counter: TokenCounter | None = None

    def count(self, example: Mapping[str, Any]) -> int:
        if self._counter is None:
            from anytune_local.recipe import count_tokens_counter

            self._counter = count_tokens_counter(self.model)
        return self._counter.count(example)
