"""The fake server's fine-tuning jobs: how one progresses, tick by tick, deterministically.

validating_files (the training file is really checked) → queued → running (one metrics
event per step, a checkpoint at the end of each of the last three epochs) → succeeded with
``ft:MODEL:ORG:SUFFIX:ID``. A paused job does not advance; a cancelled or failed one stops.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

MIN_EXAMPLES = 10
ORG_NAME = "anytune-fake"


def check_training_file(content: bytes, method: str) -> tuple[int, str | None]:
    """``(examples, problem)`` for a training file, ``problem`` worded like OpenAI's."""
    examples = 0
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        examples += 1
        try:
            record = json.loads(raw)
        except ValueError:
            return examples, f"Invalid file format. Line {number}: not valid JSON."
        if not isinstance(record, dict):
            return examples, f"Invalid file format. Line {number}: expected a JSON object."
        if method == "dpo":
            missing = [
                k for k in ("input", "preferred_output", "non_preferred_output") if k not in record
            ]
            if missing:
                return examples, f"Invalid file format. Example {number}: missing {missing[0]}."
            continue
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            return examples, f"Invalid file format. Example {number}: 'messages' is missing."
        for index, message in enumerate(messages, start=1):
            if not isinstance(message, dict) or "role" not in message:
                return (
                    examples,
                    f"Invalid file format. Example {number}, message {index} "
                    "Discriminator 'role' is missing",
                )
        if not any(m.get("role") == "assistant" for m in messages):
            return examples, f"Example {number}: no assistant message to train on."
    if examples < MIN_EXAMPLES:
        return examples, (
            f"Training file has {examples} example(s), but must have at least "
            f"{MIN_EXAMPLES} examples"
        )
    return examples, None


@dataclass
class FakeJob:
    """One job: its API object (``data``), its events and checkpoints, oldest first."""

    data: dict[str, Any]
    training_content: bytes
    total_steps: int
    step: int = 0
    paused_from: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    last_tick: float = field(default_factory=time.monotonic)

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def terminal(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


class JobRunner:
    """Creates ids and advances jobs; the server holds its lock around every call."""

    def __init__(self, *, total_steps: int, fail_with: tuple[str, str] | None = None):
        self.total_steps = total_steps
        self.fail_with = fail_with
        self._counter = 0

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-fake{self._counter:08d}"

    def event(
        self, job: FakeJob, message: str, *, level: str = "info", data: dict[str, Any] | None = None
    ) -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": self.new_id("ftevent"),
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": "metrics" if data and "step" in data else "message",
            }
        )

    def start(self, job: FakeJob) -> None:
        self.event(job, f"Validating training file: {job.data['training_file']}")

    def fail(self, job: FakeJob, code: str, message: str, param: str | None = None) -> None:
        job.data.update(
            status="failed",
            error={"code": code, "message": message, "param": param},
            finished_at=int(time.time()),
        )
        self.event(job, f"Job failed: {message}", level="error")

    def cancel(self, job: FakeJob) -> None:
        job.data.update(status="cancelled", finished_at=int(time.time()))
        job.paused_from = None
        self.event(job, "Fine-tuning job cancelled")

    def catch_up(self, job: FakeJob, tick_seconds: float) -> None:
        """Time mode: one tick per ``tick_seconds`` elapsed since the job last moved, however
        many requests came in between (a job polled every 2 s with 0.5 s ticks moves four
        steps). Time spent paused does not count, so a paused job stays put and is answered
        at once (the loop used to spin forever on one)."""
        now = time.monotonic()
        # Bounded: a job needs at most total_steps + 3 ticks to end.
        for _ in range(job.total_steps + 3):
            if job.terminal or job.status == "paused" or now - job.last_tick < tick_seconds:
                break
            job.last_tick += tick_seconds
            self.tick(job)
        if job.terminal or job.status == "paused" or now - job.last_tick >= tick_seconds:
            job.last_tick = now

    def tick(self, job: FakeJob) -> None:
        """Advance ``job`` by one step of its life."""
        if job.terminal or job.status == "paused":
            return
        status = job.status
        if status == "validating_files":
            method = (job.data.get("method") or {}).get("type", "supervised")
            examples, problem = check_training_file(job.training_content, method)
            if problem is None and self.fail_with is not None:
                problem = self.fail_with[1]
            if problem is not None:
                code = self.fail_with[0] if self.fail_with else "invalid_training_file"
                self.fail(job, code, problem, param="training_file")
                return
            self._resolve_hyperparameters(job, examples)
            job.data["status"] = "queued"
            self.event(job, "Files validated, moving job to queued state")
        elif status == "queued":
            job.data.update(status="running", estimated_finish=int(time.time()) + 60)
            self.event(job, "Fine-tuning job started")
        elif status == "running" and job.step < job.total_steps:
            self._train_step(job)
        elif status == "running":
            self._succeed(job)

    def _resolve_hyperparameters(self, job: FakeJob, examples: int) -> None:
        method = job.data["method"]
        hp = method[method["type"]].setdefault("hyperparameters", {})
        if hp.get("n_epochs", "auto") == "auto":
            hp["n_epochs"] = 3 if examples * 3 >= 100 else min(25, 100 // max(1, examples))
        if hp.get("batch_size", "auto") == "auto":
            hp["batch_size"] = 1
        if hp.get("learning_rate_multiplier", "auto") == "auto":
            hp["learning_rate_multiplier"] = 2.0
        if method["type"] == "dpo" and hp.get("beta", "auto") == "auto":
            hp["beta"] = 0.1
        if method["type"] == "supervised":
            job.data["hyperparameters"] = dict(hp)

    def _train_step(self, job: FakeJob) -> None:
        job.step += 1
        step, total = job.step, job.total_steps
        loss = round(2.0 / (1 + step), 4)
        data: dict[str, Any] = {
            "step": step,
            "total_steps": total,
            "train_loss": loss,
            "train_mean_token_accuracy": round(min(1.0, 0.5 + step / (2 * total)), 4),
        }
        if job.data.get("validation_file"):
            data["valid_loss"] = round(loss * 1.1, 4)
        self.event(job, f"Step {step}/{total}: training loss={loss:.4f}", data=data)
        per_epoch = max(1, total // 3)
        if step % per_epoch == 0 or step == total:
            checkpoint = {
                "object": "fine_tuning.job.checkpoint",
                "id": self.new_id("ftckpt"),
                "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": f"{self._model_name(job)}:ckpt-step-{step}",
                "fine_tuning_job_id": job.data["id"],
                "step_number": step,
                "metrics": {k: v for k, v in data.items() if k != "total_steps"},
            }
            job.checkpoints.append(checkpoint)
            self.event(job, f"Checkpoint created at step {step}")

    def _model_name(self, job: FakeJob) -> str:
        suffix = job.data.get("user_provided_suffix") or ""
        return f"ft:{job.data['model']}:{ORG_NAME}:{suffix}:{job.data['id'][-8:]}"

    def _succeed(self, job: FakeJob) -> None:
        name = self._model_name(job)
        hp = job.data["method"][job.data["method"]["type"]]["hyperparameters"]
        job.data.update(
            status="succeeded",
            fine_tuned_model=name,
            finished_at=int(time.time()),
            estimated_finish=None,
            trained_tokens=(len(job.training_content) // 4) * int(hp.get("n_epochs", 1)),
        )
        self.event(job, f"New fine-tuned model created: {name}")
        self.event(job, "The job has successfully completed")
