from __future__ import annotations

import io

from anytune.cli.render import Progress
from anytune.types import Event, Job, JobStatus, Metrics


def job(status: str) -> Job:
    return Job(
        id="ftjob-1", provider="p", model="m", status=status, created_at=0, training_file="f"
    )


def step(n: int, loss: float) -> Event:
    return Event(
        id=f"e{n}",
        created_at=n,
        level="info",
        message=f"step {n}",
        metrics=Metrics(step=n, total_steps=10, train_loss=loss),
    )


def test_live_progress_redraws_one_line_with_step_loss_elapsed_and_eta() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=True)
    progress.on_status(job("running"))
    progress.on_event(step(1, 2.0))
    progress.on_event(step(3, 1.5))
    progress.on_event(Event(id="w", created_at=4, level="warn", message="disk almost full"))
    progress.finish()
    text = out.getvalue()
    assert "\n" in text and text.count("\n") == 2  # the warning line + the final newline
    last = text.rsplit("\r", 1)[-1]
    assert "step 3/10" in last and "loss 1.5000" in last and "elapsed 0:00:00" in last
    assert "ETA" in last
    assert "[warn] disk almost full" in text


def test_plain_progress_prints_lines_for_scripts() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=False)
    progress.on_status(job("queued"))
    progress.on_event(step(1, 2.0))
    progress.on_status(job(JobStatus.SUCCEEDED))
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "ftjob-1: queued"
    assert lines[1].endswith("step 1")
    assert lines[2] == "ftjob-1: succeeded"
    assert "\r" not in out.getvalue()
