"""How jobs, events, files and checkpoints look on a terminal, and live wait progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TextIO

import click

from anytune.cli._common import redact
from anytune.types import Checkpoint, Event, FileObject, Job, JobStatus

_STATUS_COLOURS = {
    JobStatus.SUCCEEDED.value: "green",
    JobStatus.FAILED.value: "red",
    JobStatus.CANCELLED.value: "yellow",
    JobStatus.PAUSED.value: "yellow",
    JobStatus.RUNNING.value: "cyan",
}


def when(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def status_text(status: JobStatus | str) -> str:
    return click.style(str(status), fg=_STATUS_COLOURS.get(str(status)))


def job_lines(job: Job) -> Iterable[str]:
    yield f"{job.id}  {status_text(job.status)}  ({job.provider})"
    yield f"  model:            {job.model}"
    if job.fine_tuned_model:
        yield f"  fine_tuned_model: {job.fine_tuned_model}"
    yield f"  method:           {job.method}"
    yield f"  training_file:    {job.training_file}"
    if job.validation_file:
        yield f"  validation_file:  {job.validation_file}"
    hp = ", ".join(f"{k}={v}" for k, v in job.hyperparameters.to_dict().items())
    yield f"  hyperparameters:  {hp}"
    yield f"  created_at:       {when(job.created_at)}"
    if job.finished_at:
        yield f"  finished_at:      {when(job.finished_at)}"
    if job.estimated_finish and not job.is_terminal:
        yield f"  estimated_finish: {when(job.estimated_finish)}"
    if job.trained_tokens is not None:
        yield f"  trained_tokens:   {job.trained_tokens}"
    if job.suffix:
        yield f"  suffix:           {job.suffix}"
    if job.metadata:
        yield "  metadata:         " + ", ".join(f"{k}={v}" for k, v in job.metadata.items())
    if job.error:
        yield "  " + click.style(f"error: {job.error}", fg="red")


def job_row(job: Job) -> str:
    model = job.fine_tuned_model or job.model
    return f"{job.id:<32} {job.status!s:<17} {when(job.created_at):<24} {model}"


def event_line(event: Event) -> str:
    level = "" if event.level == "info" else f"[{event.level}] "
    return f"{when(event.created_at)}  {level}{event.message}"


def checkpoint_line(ckpt: Checkpoint) -> str:
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in ckpt.metrics.items())
    return f"step {ckpt.step:>6}  {ckpt.fine_tuned_model_checkpoint}  {metrics}".rstrip()


def file_line(file: FileObject) -> str:
    return f"{file.id}  {file.filename}  {file.bytes} bytes  ({file.provider})"


class Progress:
    """Renders a waited-for job: one live line on a terminal, plain lines otherwise."""

    def __init__(self, job_id: str, *, stream: TextIO | None = None, live: bool | None = None):
        self.job_id = job_id
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.status = "?"
        self.step: int | None = None
        self.total: int | None = None
        self.loss: float | None = None
        self.valid_loss: float | None = None
        self._first_step_at: tuple[float, int] | None = None
        self._line_len = 0

    def on_status(self, job: Job) -> None:
        self.status = str(job.status)
        if self.live:
            self._redraw()
        else:
            self._print(f"{self.job_id}: {job.status}")

    def on_event(self, event: Event) -> None:
        m = event.metrics
        if m is not None:
            if m.step is not None:
                self.step = m.step
                if self._first_step_at is None:
                    self._first_step_at = (time.monotonic(), m.step)
            self.total = m.total_steps or self.total
            self.loss = m.train_loss if m.train_loss is not None else self.loss
            self.valid_loss = m.valid_loss if m.valid_loss is not None else self.valid_loss
        if self.live:
            if m is None or event.level != "info":
                self._clear()
                self._print(event_line(event))
            self._redraw()
        else:
            self._print(event_line(event))

    def eta(self) -> float | None:
        if self._first_step_at is None or self.step is None or not self.total:
            return None
        t0, s0 = self._first_step_at
        done = self.step - s0
        if done <= 0:
            return None
        rate = (time.monotonic() - t0) / done
        return rate * max(0, self.total - self.step)

    def summary(self) -> str:
        parts = [f"{self.job_id}  {self.status}"]
        if self.step is not None:
            parts.append(f"step {self.step}/{self.total or '?'}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.valid_loss is not None:
            parts.append(f"valid {self.valid_loss:.4f}")
        parts.append(f"elapsed {duration(time.monotonic() - self.started)}")
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        return "  |  ".join(parts)

    def _redraw(self) -> None:
        text = self.summary()
        pad = max(0, self._line_len - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._line_len = len(text)

    def _clear(self) -> None:
        if self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self._line_len = 0

    def finish(self) -> None:
        if self.live and self._line_len:
            self.stream.write("\n")
            self.stream.flush()
            self._line_len = 0

    def _print(self, text: str) -> None:
        self.stream.write(redact(text) + "\n")
        self.stream.flush()
