"""OpenAI's ``weight`` semantics on Together.

In OpenAI's format ``weight`` (0 or 1) appears on assistant messages only, and system, user
and tool text is never trained. Together reads ``weight`` on any message, defaults a missing
one to 1, and -- as soon as a file carries weights -- turns ``train_on_inputs`` on "to respect
the weights" (Together's data-preparation guide). Uploaded as is, an OpenAI file with one
``"weight": 0`` would therefore train every user and system message on Together.

So before uploading a file that carries any ``weight``, anytune writes a copy in which every
non-assistant message without a weight gets ``"weight": 0``: Together then trains exactly the
tokens OpenAI would. Files without weights are uploaded unchanged. One streaming pass to
detect, one to copy: memory stays flat whatever the file's size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _messages(example: Any) -> list[Any]:
    messages = example.get("messages") if isinstance(example, dict) else None
    return messages if isinstance(messages, list) else []


def has_weights(path: Path) -> bool:
    with path.open("rb") as fh:
        for raw in fh:
            if b'"weight"' not in raw:  # cheap pre-filter; parse only candidate lines
                continue
            try:
                example = json.loads(raw)
            except ValueError:
                continue
            if any(isinstance(m, dict) and "weight" in m for m in _messages(example)):
                return True
    return False


def with_openai_weights(path: Path, directory: Path) -> Path:
    """A copy of ``path`` (same file name, in ``directory``) where every non-assistant
    message without a weight has ``"weight": 0``."""
    target = directory / path.name
    with path.open("rb") as src, target.open("w", encoding="utf-8") as dst:
        for raw in src:
            if not raw.strip():
                continue
            example = json.loads(raw)
            for message in _messages(example):
                if isinstance(message, dict) and message.get("role") != "assistant":
                    message.setdefault("weight", 0)
            dst.write(json.dumps(example, ensure_ascii=False) + "\n")
    return target
