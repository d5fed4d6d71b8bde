"""A tiny adapter trained for real, once per session, for the eval and export tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from anytune_local.recipe import TrainRequest, train

SYSTEM = "Answer positive or negative."
POSITIVE = ["great", "lovely", "superb", "fine"]
NEGATIVE = ["awful", "boring", "poor", "bad"]


def sentiment_lines(count: int, offset: int = 0) -> list[dict[str, Any]]:
    lines = []
    for i in range(offset, offset + count):
        label = "positive" if i % 2 else "negative"
        word = (POSITIVE if i % 2 else NEGATIVE)[(i // 2) % 4]
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Review {i}: it was {word}."},
            {"role": "assistant", "content": label},
        ]
        lines.append({"messages": messages})
    return lines


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


class QuietReporter:
    def event(self, message: str, *, level: str = "info", metrics: Any = None) -> None: ...
    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None: ...
    def hyperparameters(self, resolved: dict[str, Any]) -> None: ...
    def should_stop(self) -> str | None:
        return None


def train_adapter(tiny: Path, root: Path, **options: Any) -> Path:
    """Train LoRA on the sentiment lines (a few seconds on CPU); the adapter directory."""
    train_path = write_lines(root / "train.jsonl", sentiment_lines(32))
    request = TrainRequest(
        job_id="ftjob-kit",
        base_model=str(tiny),
        method="supervised",
        train_path=train_path,
        valid_path=None,
        output_dir=root / "adapter",
        checkpoint_dir=root / "checkpoints",
        hyperparameters={"n_epochs": 2, "batch_size": 8, "learning_rate_multiplier": 10},
        options={"lora_r": 4, "logging_steps": 1, **options},
        seed=3,
    )
    train(request, QuietReporter())
    return request.output_dir
