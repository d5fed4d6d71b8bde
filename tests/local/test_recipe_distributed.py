"""train() under torchrun: two CPU processes (gloo, DDP) give the one-process result, and only
rank 0 reports and saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")

from anytune_local.recipe import TrainRequest, train
from anytune_local.recipe.tiny import make_tiny_model

from anytune.types import Metrics

pytestmark = pytest.mark.slow

SCRIPT = """
import json, os, sys
from pathlib import Path
from anytune_local.recipe import TrainRequest, train

class FileReporter:
    def __init__(self, path):
        self.path = path
    def _write(self, **record):
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"rank": int(os.environ["RANK"]), **record}) + "\\n")
    def event(self, message, *, level="info", metrics=None):
        self._write(kind="event", message=message, metrics=metrics.to_dict() if metrics else None)
    def checkpoint(self, step, path, metrics):
        self._write(kind="checkpoint", step=step, path=str(path))
    def hyperparameters(self, resolved):
        self._write(kind="hyperparameters", resolved=resolved)
    def should_stop(self):
        return None

request = TrainRequest.from_json(Path(sys.argv[1]).read_text())
result = train(request, FileReporter(sys.argv[2]))
Path(sys.argv[3] + os.environ["RANK"]).write_text(json.dumps(
    {"stopped": result.stopped, "loss": result.final_train_loss, "tokens": result.trained_tokens}
))
"""


class Reporter:
    def __init__(self) -> None:
        self.metrics: list[Metrics] = []

    def event(self, message: str, *, level: str = "info", metrics: Metrics | None = None) -> None:
        if metrics is not None:
            self.metrics.append(metrics)

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None:
        pass

    def hyperparameters(self, resolved: dict[str, Any]) -> None:
        pass

    def should_stop(self) -> str | None:
        return None


def make_request(root: Path, tiny: Path, train_path: Path) -> TrainRequest:
    return TrainRequest(
        job_id="ftjob-ddp",
        base_model=str(tiny),
        method="supervised",
        train_path=train_path,
        valid_path=train_path,
        output_dir=root / "model",
        checkpoint_dir=root / "checkpoints",
        hyperparameters={"n_epochs": 1, "batch_size": 4, "learning_rate_multiplier": 5},
        # No dropout: its masks depend on how rows are split over processes, and the logged
        # per-step loss would differ by that noise rather than by anything the test checks.
        options={"lora_r": 4, "lora_dropout": 0.0, "logging_steps": 1, "eval_steps": 2},
        seed=1,
    )


def test_two_processes_match_one(tmp_path: Path) -> None:
    tiny = make_tiny_model(tmp_path / "tiny")
    train_path = tmp_path / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": "x" * (1 + 7 * i)},
                {"role": "assistant", "content": f"{i}"},
            ]
        }
        for i in range(16)
    ]
    train_path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    single = Reporter()
    one = train(make_request(tmp_path / "one", tiny, train_path), single)

    request = make_request(tmp_path / "two", tiny, train_path)
    (tmp_path / "request.json").write_text(request.to_json())
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(tmp_path / "script.py"),
            str(tmp_path / "request.json"),
            str(tmp_path / "events.jsonl"),
            str(tmp_path / "result"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    records = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert {r["rank"] for r in records} == {0}  # only the main process reports
    steps = [
        r["metrics"]
        for r in records
        if r["kind"] == "event" and r["metrics"] and "train_loss" in r["metrics"]
    ]
    assert [m["step"] for m in steps] == [
        m.step for m in single.metrics if m.train_loss is not None
    ]
    messages = [r["message"] for r in records if r["kind"] == "event"]
    assert any(m.startswith("Training started") and "2 process(es)" in m for m in messages)
    valid = [
        r["metrics"]["valid_loss"]
        for r in records
        if r["kind"] == "event" and r["metrics"] and "valid_loss" in r["metrics"]
    ]
    single_valid = [m.valid_loss for m in single.metrics if m.valid_loss is not None]
    assert valid == pytest.approx(single_valid, rel=1e-3)

    results = [json.loads((tmp_path / f"result{rank}").read_text()) for rank in (0, 1)]
    assert results[0]["loss"] == pytest.approx(one.final_train_loss, rel=1e-3)
    assert results[0]["tokens"] == one.trained_tokens
    assert (request.output_dir / "adapter_model.safetensors").is_file()
