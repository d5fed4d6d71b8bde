"""How jobs, events, files and checkpoints look on a terminal (live progress: ``progress``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import click

from anytune.types import Checkpoint, Event, FileObject, Job, JobStatus, Metrics

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
    if job.metrics is not None and not job.is_terminal:
        yield f"  progress:         {progress_text(job.metrics)}"
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


def progress_text(metrics: Metrics) -> str:
    """A job's latest progress, e.g. "step 40/120 (33%), epoch 1.00, train_loss 1.234"."""
    parts = []
    if metrics.step is not None:
        step = f"step {metrics.step}"
        if metrics.total_steps:
            step += f"/{metrics.total_steps} ({100 * metrics.step / metrics.total_steps:.0f}%)"
        parts.append(step)
    if metrics.epoch is not None:
        parts.append(f"epoch {metrics.epoch:.2f}")
    if metrics.train_loss is not None:
        parts.append(f"train_loss {metrics.train_loss:.4g}")
    if metrics.valid_loss is not None:
        parts.append(f"valid_loss {metrics.valid_loss:.4g}")
    if metrics.tokens_per_second is not None:
        parts.append(f"{metrics.tokens_per_second:,.0f} tokens/s")
    return ", ".join(parts) or "-"


def job_row(job: Job) -> str:
    model = job.fine_tuned_model or job.model
    return f"{job.id:<32} {job.status!s:<17} {when(job.created_at):<24} {model}"


def event_line(event: Event) -> str:
    level = "" if event.level == "info" else f"[{event.level}] "
    return f"{when(event.created_at)}  {level}{event.message}"


def metrics_text(metrics: Mapping[str, float]) -> str:
    """``name=value`` pairs; a metric with a ``<name>_step`` companion says the step it was
    measured at (a validation loss is often older than the checkpoint that carries it)."""
    parts = []
    for key, value in metrics.items():
        if key.endswith("_step") and key[: -len("_step")] in metrics:
            continue
        text = f"{key}={value:.4g}"
        step = metrics.get(f"{key}_step")
        if step is not None:
            text += f" (at step {int(step)})"
        parts.append(text)
    return ", ".join(parts)


def checkpoint_line(ckpt: Checkpoint) -> str:
    metrics = metrics_text(ckpt.metrics)
    return f"step {ckpt.step:>6}  {ckpt.fine_tuned_model_checkpoint}  {metrics}".rstrip()


def plural(n: int, noun: str) -> str:
    """ "1 problem", "3 problems"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def final_line(job: Job) -> str:
    """How a waited-for job ended, for stderr."""
    if job.status == JobStatus.SUCCEEDED:
        model = f": {job.fine_tuned_model}" if job.fine_tuned_model else ""
        return f"{job.id} {status_text(job.status)}{model}"
    reason = f": {job.error}" if job.error else ""
    return f"{job.id} {status_text(job.status)}{reason}"


def file_size(file: FileObject) -> str:
    """ "1,234 bytes", or "size unknown" where the provider reports none."""
    return "size unknown" if file.bytes is None else f"{file.bytes:,} bytes"


def file_line(file: FileObject) -> str:
    return f"{file.id}  {file.filename}  {file_size(file)}  ({file.provider})"
