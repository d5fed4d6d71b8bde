"""train() for real on the tiny model: metrics, validation loss, checkpoints, pause and resume,
cancel, saving, merging and clear failures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")

from anytune_local.recipe import TrainingFailure, TrainRequest, TrainResult, generate, train

from anytune.types import Metrics

pytestmark = pytest.mark.slow

POSITIVE = ["great", "lovely", "superb", "fine"]
NEGATIVE = ["awful", "boring", "poor", "bad"]


class RecordingReporter:
    """A real Reporter that keeps everything it is told; ``stop_at`` scripts a stop request."""

    def __init__(self, stop_at: int | None = None, decision: str = "pause"):
        self.events: list[tuple[str, str, Metrics | None]] = []
        self.checkpoints: list[tuple[int, Path, dict[str, float]]] = []
        self.resolved: dict[str, Any] | None = None
        self.calls = 0
        self.stop_at = stop_at
        self.decision = decision

    def event(self, message: str, *, level: str = "info", metrics: Metrics | None = None) -> None:
        self.events.append((level, message, metrics))

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None:
        self.checkpoints.append((step, path, metrics))

    def hyperparameters(self, resolved: dict[str, Any]) -> None:
        self.resolved = resolved

    def should_stop(self) -> str | None:
        self.calls += 1
        return self.decision if self.stop_at is not None and self.calls >= self.stop_at else None

    def metrics(self, key: str) -> list[Metrics]:
        return [m for _, _, m in self.events if m is not None and getattr(m, key) is not None]


def write_chat(path: Path, count: int, offset: int = 0) -> Path:
    lines = []
    for i in range(offset, offset + count):
        label = "positive" if i % 2 else "negative"
        word = (POSITIVE if i % 2 else NEGATIVE)[(i // 2) % 4]
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "Answer positive or negative."},
                        {"role": "user", "content": f"Review {i}: it was {word}."},
                        {"role": "assistant", "content": label},
                    ]
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> Path:
    """The session's tiny random model (conftest)."""
    return tiny_model


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    return write_chat(root / "train.jsonl", 24), write_chat(root / "valid.jsonl", 8, offset=100)


def request_for(tiny: Path, data: tuple[Path, Path], root: Path, **options: Any) -> TrainRequest:
    return TrainRequest(
        job_id="ftjob-test",
        base_model=str(tiny),
        method="supervised",
        train_path=data[0],
        valid_path=data[1],
        output_dir=root / "model",
        checkpoint_dir=root / "checkpoints",
        hyperparameters={"n_epochs": 1, "batch_size": 4, "learning_rate_multiplier": 5},
        options={"lora_r": 4, "logging_steps": 1, "eval_steps": 3, **options},
        seed=3,
    )


@pytest.fixture(scope="module")
def finished(
    tiny: Path, data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainRequest, RecordingReporter, TrainResult]:
    request = request_for(tiny, data, tmp_path_factory.mktemp("run"), merge=True)
    reporter = RecordingReporter()
    return request, reporter, train(request, reporter)


def test_metrics_every_step_and_validation_loss(finished: Any) -> None:
    _, reporter, result = finished
    train_metrics = reporter.metrics("train_loss")
    assert [m.step for m in train_metrics] == [1, 2, 3, 4, 5, 6]
    assert all(m.total_steps == 6 and m.learning_rate is not None for m in train_metrics)
    assert all(m.tokens_per_second and m.tokens_per_second > 0 for m in train_metrics)
    valid = reporter.metrics("valid_loss")
    assert [m.step for m in valid] == [3, 6]
    assert all(math.isfinite(m.valid_loss or math.nan) for m in valid)
    assert result.final_train_loss == train_metrics[-1].train_loss
    assert reporter.resolved == {
        "n_epochs": 1,
        "batch_size": 4,
        "learning_rate_multiplier": 5.0,
        "learning_rate": pytest.approx(1e-3),
    }
    messages = [message for _, message, _ in reporter.events]
    assert messages[0].startswith("Training file: 24 examples")
    assert any(m.startswith("Training started") for m in messages)


def test_checkpoint_and_saved_adapter(finished: Any) -> None:
    request, reporter, result = finished
    assert result.stopped is None and result.output_dir == request.output_dir
    ((step, path, metrics),) = reporter.checkpoints  # one per epoch
    assert step == 6 and path == request.checkpoint_dir / "checkpoint-6" and path.is_dir()
    # each loss with the step it was measured at (both at the checkpoint's step here)
    assert set(metrics) == {"train_loss", "train_loss_step", "valid_loss", "valid_loss_step"}
    assert metrics["train_loss_step"] == metrics["valid_loss_step"] == 6
    assert result.last_checkpoint == path
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json"):
        assert (request.output_dir / name).is_file()
    spec = json.loads((request.output_dir / "anytune_spec.json").read_text())
    assert spec["base_model"] == request.base_model and spec["hyperparameters"]["batch_size"] == 4
    assert spec["trained_tokens"] == result.trained_tokens > 0
    assert isinstance(
        generate(str(request.output_dir), [{"role": "user", "content": "hi"}], max_new_tokens=3),
        str,
    )


def test_merged_model_equals_base_plus_adapter(finished: Any) -> None:
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    request, _, _ = finished
    ids = torch.tensor([[5, 17, 30, 2, 9]])
    merged = AutoModelForCausalLM.from_pretrained(request.output_dir / "merged")
    adapter = AutoPeftModelForCausalLM.from_pretrained(str(request.output_dir))
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapter(ids).logits, rtol=1e-4, atol=1e-4)


def test_pause_saves_a_checkpoint_and_resume_continues(
    tiny: Path, data: tuple[Path, Path], tmp_path: Path, finished: Any
) -> None:
    request = request_for(tiny, data, tmp_path)
    pausing = RecordingReporter(stop_at=2, decision="pause")
    paused = train(request, pausing)
    assert paused.stopped == "pause" and paused.output_dir is None
    assert [(step, path) for step, path, _ in pausing.checkpoints] == [(2, paused.last_checkpoint)]
    assert paused.last_checkpoint == request.checkpoint_dir / "checkpoint-2"
    assert not (request.output_dir / "adapter_config.json").exists()

    request.resume_from_checkpoint = paused.last_checkpoint
    reporter = RecordingReporter()
    resumed = train(request, reporter)
    assert [m.step for m in reporter.metrics("train_loss")] == [3, 4, 5, 6]
    assert resumed.stopped is None and (request.output_dir / "adapter_config.json").is_file()
    assert resumed.trained_tokens == finished[2].trained_tokens  # tokens before the pause count
    # Same data order, same random state: the interrupted run ends where the straight one did.
    assert resumed.final_train_loss == pytest.approx(finished[2].final_train_loss, rel=1e-4)


def test_cancel_stops_without_saving(tiny: Path, data: tuple[Path, Path], tmp_path: Path) -> None:
    request = request_for(tiny, data, tmp_path)
    reporter = RecordingReporter(stop_at=1, decision="cancel")
    result = train(request, reporter)
    assert (
        result.stopped == "cancel" and result.output_dir is None and result.last_checkpoint is None
    )
    assert [m.step for m in reporter.metrics("train_loss")] == [1]
    assert not request.output_dir.exists() or not any(request.output_dir.iterdir())


def test_unloadable_model_fails_clearly(data: tuple[Path, Path], tmp_path: Path) -> None:
    request = request_for(tmp_path / "no-such-model", data, tmp_path)
    with pytest.raises(TrainingFailure) as info:
        train(request, RecordingReporter())
    assert info.value.code == "invalid_model"
    assert (
        "no-such-model" in info.value.message
        and "local directory or a hub id" in info.value.message
    )


def test_bad_training_file_names_file_and_line(
    tiny: Path, data: tuple[Path, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    good = data[0].read_text().splitlines()
    bad.write_text(
        "\n".join(
            [good[0], "{not json", good[1], '{"messages": [{"role": "user", "content": "x"}]}']
        )
        + "\n"
    )
    request = request_for(tiny, (bad, data[1]), tmp_path)
    with pytest.raises(TrainingFailure) as info:
        train(request, RecordingReporter())
    assert info.value.code == "invalid_training_file"
    assert f"{bad}:2: not valid JSON" in info.value.message
    assert f"{bad}:4: no assistant message" in info.value.message
