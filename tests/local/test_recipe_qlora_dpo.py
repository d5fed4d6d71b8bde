"""QLoRA (4-bit base, bitsandbytes on CPU) and DPO on OpenAI's preference format, a few real
steps each on the tiny model."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")

from anytune_local.recipe import TrainingFailure, TrainRequest, generate, train

from anytune.types import Metrics

pytestmark = pytest.mark.slow


class Reporter:
    def __init__(self) -> None:
        self.events: list[tuple[str, Metrics | None]] = []
        self.resolved: dict[str, Any] = {}

    def event(self, message: str, *, level: str = "info", metrics: Metrics | None = None) -> None:
        self.events.append((message, metrics))

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None:
        pass

    def hyperparameters(self, resolved: dict[str, Any]) -> None:
        self.resolved = resolved

    def should_stop(self) -> str | None:
        return None

    def losses(self, key: str) -> list[float]:
        return [
            getattr(m, key) for _, m in self.events if m is not None and getattr(m, key) is not None
        ]


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> Path:
    """The session's tiny random model (conftest)."""
    return tiny_model


def chat_file(path: Path, count: int = 8) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Number {i}?"},
                {"role": "assistant", "content": str(i)},
            ]
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def preference_file(path: Path, count: int = 8) -> Path:
    rows = [
        {
            "input": {
                "messages": [
                    {"role": "system", "content": "Be kind."},
                    {"role": "user", "content": f"Hello {i}"},
                ]
            },
            "preferred_output": [{"role": "assistant", "content": "Nice to meet you."}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_qlora_4bit_trains_on_cpu_and_generates(tiny: Path, tmp_path: Path) -> None:
    request = TrainRequest(
        job_id="ftjob-qlora",
        base_model=str(tiny),
        method="supervised",
        train_path=chat_file(tmp_path / "train.jsonl"),
        valid_path=None,
        output_dir=tmp_path / "model",
        checkpoint_dir=tmp_path / "checkpoints",
        hyperparameters={"n_epochs": 1, "batch_size": 4},
        options={"quantize": "4bit", "lora_r": 4, "logging_steps": 1},
    )
    reporter = Reporter()
    try:
        result = train(request, reporter)
    except TrainingFailure as exc:  # only acceptable where bitsandbytes cannot run at all
        assert exc.code == "quantization_unavailable"
        pytest.skip(f"bitsandbytes cannot run here: {exc.message}")
    assert result.stopped is None and (request.output_dir / "adapter_config.json").is_file()
    started = next(m for m, _ in reporter.events if m.startswith("Training started"))
    assert "layers quantized to 4bit with bitsandbytes" in started
    assert "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is not None
    losses = reporter.losses("train_loss")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert isinstance(
        generate(
            str(request.output_dir), [{"role": "user", "content": "Number 3?"}], max_new_tokens=2
        ),
        str,
    )


def test_dpo_on_openai_preference_format(tiny: Path, tmp_path: Path) -> None:
    data = preference_file(tmp_path / "prefs.jsonl")
    request = TrainRequest(
        job_id="ftjob-dpo",
        base_model=str(tiny),
        method="dpo",
        train_path=data,
        valid_path=data,
        output_dir=tmp_path / "model",
        checkpoint_dir=tmp_path / "checkpoints",
        hyperparameters={
            "n_epochs": 1,
            "batch_size": 4,
            "beta": 0.2,
            "learning_rate_multiplier": 5,
        },
        options={"lora_r": 4, "logging_steps": 1},
    )
    reporter = Reporter()
    result = train(request, reporter)
    assert reporter.resolved["beta"] == 0.2
    assert result.stopped is None and (request.output_dir / "adapter_config.json").is_file()
    losses = reporter.losses("train_loss")
    assert losses[0] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at the start
    valid = reporter.losses("valid_loss")
    assert valid and valid[-1] < math.log(2)  # it learned to prefer the preferred answer


def test_dpo_rejects_chat_format_with_line_numbers(tiny: Path, tmp_path: Path) -> None:
    request = TrainRequest(
        job_id="ftjob-dpo-bad",
        base_model=str(tiny),
        method="dpo",
        train_path=chat_file(tmp_path / "chat.jsonl", 2),
        valid_path=None,
        output_dir=tmp_path / "model",
        checkpoint_dir=tmp_path / "checkpoints",
    )
    with pytest.raises(TrainingFailure) as info:
        train(request, Reporter())
    assert info.value.code == "invalid_training_file"
    assert f"{request.train_path}:1: this is a chat example, but the job is DPO" in (
        info.value.message
    )
