"""Base models on disk: telling a path from a hub id, checking it early, counting tokens.

Nothing here imports transformers; the token counter loads the tokenizer (through the
recipe) on its first use only.
"""

from __future__ import annotations

import os
import re
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


_HUB_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}")
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded models (its own environment variables)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


def in_hub_cache(model: str) -> bool:
    return (hub_cache_dir() / f"models--{model.replace('/', '--')}").is_dir()


def _offline() -> str | None:
    for name in _OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def check_model(model: str) -> None:
    """Raise ``ConfigurationError`` for a model that cannot be loaded: a path that does not
    exist or is not a model, a name that cannot be a hub id, a relative path whose first
    directory exists here (``runs/tiny``), or a hub id with downloads turned off and nothing
    in the cache."""
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
    missing_path = ConfigurationError(
        f"model path {model!r} does not exist (in {Path.cwd()})",
        hint="pass an existing model directory (make a test one with `anytune local "
        "make-tiny-model DIR`) or a hub id like Qwen/Qwen2.5-0.5B-Instruct",
        provider="local",
    )
    if looks_like_path(model) or not _HUB_ID.fullmatch(model) or ".." in model:
        raise missing_path
    first = model.split("/", 1)[0]
    if "/" in model and Path(first).is_dir() and not in_hub_cache(model):
        # "runs/tiny" with a runs/ directory here is a path with a typo, not a hub id (it
        # would fail a minute later with a connection error).
        raise missing_path
    offline = _offline()
    if offline and not in_hub_cache(model):
        raise ConfigurationError(
            f"model {model!r} is not a local directory and not in the Hugging Face cache "
            f"({hub_cache_dir()}), and {offline} is set, so it cannot be downloaded",
            hint=f"download it first (unset {offline}), or pass the path of a model directory",
            provider="local",
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

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        self.model = resolve_model(model)
        self.options = dict(options or {})
        self.description = f"{Path(self.model).name} tokenizer + chat template (exact)"
        self._counter: TokenCounter | None = None

    def count(self, example: Mapping[str, Any]) -> int:
        if self._counter is None:
            from anytune_local.recipe import count_tokens_counter

            self._counter = count_tokens_counter(self.model, self.options)
        return self._counter.count(example)
