"""Live progress of `anytune wait` (rich on a terminal, plain lines elsewhere)."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

from anytune.cli.progress import Progress
from anytune.errors import ProviderConnectionError
from anytune.polling import Outage
from anytune.types import Event, Job, JobStatus, Metrics

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def job(status: str, *, created_ago: int = 0) -> Job:
    return Job(
        id="ftjob-1",
        provider="p",
        model="m",
        status=status,
        created_at=int(time.time()) - created_ago,
        training_file="f",
    )


def step(n: int, loss: float, **metrics: float) -> Event:
    return Event(
        id=f"e{n}",
        created_at=n,
        level="info",
        message=f"step {n}",
        metrics=Metrics(step=n, total_steps=10, train_loss=loss, **metrics),  # type: ignore[arg-type]
    )


def screen_lines(text: str) -> list[str]:
    """What a terminal shows, line by line, once cursor codes are removed."""
    return [line for line in re.split(r"[\r\n]", _ANSI.sub("", text)) if line.strip()]


def test_live_lines_fit_an_80_column_terminal_with_percentage_epoch_and_speed() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=True, width=80)
    progress.on_status(job("running", created_ago=3600))
    progress.on_status(job("running"))  # status unchanged: no new line
    progress.on_event(step(1, 2.0, epoch=0.1, tokens_per_second=1500.0))
    time.sleep(0.05)
    progress.on_event(step(3, 1.5, epoch=0.3, tokens_per_second=1500.0, valid_loss=1.7))
    progress.on_event(Event(id="w", created_at=4, level="warn", message="disk almost full " * 8))
    progress.finish()
    lines = screen_lines(out.getvalue())
    assert lines and all(len(line) <= 80 for line in lines), lines
    bars = [line for line in lines if "step 3/10" in line]
    assert bars, lines
    assert "30%" in bars[-1] and "epoch 0.30" in bars[-1]
    assert any("[warn] disk almost full" in line for line in lines)


def test_elapsed_counts_from_the_job_creation_and_no_eta_before_two_steps() -> None:
    progress = Progress("ftjob-1", stream=io.StringIO(), live=False)
    progress.on_status(job("running", created_ago=3700))
    progress.on_event(step(1, 2.0))
    summary = progress.summary()
    assert "elapsed 1:01:4" in summary  # since the job was created, not since wait started
    assert "ETA" not in summary  # never a 0:00:00 first ETA
    time.sleep(0.02)
    progress.on_event(step(2, 1.8))
    assert "ETA 0:00:0" in progress.summary()


def test_valid_loss_says_the_step_it_was_measured_at() -> None:
    progress = Progress("ftjob-1", stream=io.StringIO(), live=False)
    progress.on_status(job("running"))
    progress.on_event(step(4, 1.0, valid_loss=1.25))
    progress.on_event(step(6, 0.9))
    assert "valid 1.2500 @4" in progress.summary()


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
    assert len(lines) == 2  # the end is reported once, by the command
    assert "\r" not in out.getvalue()


def test_a_finished_job_replays_no_history() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=False)
    for n in range(1, 9):
        progress.on_event(step(n, 1.0))  # the whole history arrives before the first status
    progress.on_status(job("succeeded"))
    assert out.getvalue() == ""


def test_reattaching_to_a_running_job_shows_only_the_latest_events() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=False)
    for n in range(1, 31):
        progress.on_event(step(n, 1.0))
    progress.on_status(job("running"))
    text = out.getvalue()
    assert "20 earlier events" in text and "anytune events ftjob-1" in text
    assert "step 30\n" in text and "step 21\n" in text and "step 20\n" not in text


def test_the_first_events_of_a_new_job_are_all_shown() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=False)
    for n in range(1, 13):  # e.g. one poll of a job that logs 10 events per step
        progress.on_event(step(n, 1.0))
    progress.on_status(job("running"))
    assert out.getvalue().count("step ") == 12 and "earlier" not in out.getvalue()


def test_outage_lines_now_and_then() -> None:
    out = io.StringIO()
    progress = Progress("ftjob-1", stream=out, live=False, quiet=True)
    error = ProviderConnectionError("connection refused")
    for attempt in range(1, 6):
        progress.on_outage(Outage(attempt, attempt * 2.0, 4.0, error=error))
    progress.on_outage(Outage(5, 12.0, 0.0, recovered=True))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # one note for the outage (not one per retry), one on recovery
    assert "provider unreachable (connection refused); retrying in 4 s" in lines[0]
    assert "answers again" in lines[1]


def test_checkpoint_metrics_say_when_the_validation_loss_was_measured() -> None:
    from anytune.cli.render import checkpoint_line
    from anytune.types import Checkpoint

    line = checkpoint_line(
        Checkpoint(
            id="c",
            job_id="j",
            step=60,
            created_at=0,
            fine_tuned_model_checkpoint="/ckpt/60",
            metrics={"train_loss": 0.5, "valid_loss": 1.25, "valid_loss_step": 40},
        )
    )
    assert "valid_loss=1.25 (at step 40)" in line
    assert "valid_loss_step" not in line


def test_rich_is_imported_only_to_draw_on_a_terminal(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = f"""
import sys
from click.testing import CliRunner
from anytune.cli import cli
from anytune.testing import write_chat_jsonl
train = write_chat_jsonl({str(tmp_path / "t.jsonl")!r}, 3)
r = CliRunner().invoke(cli, ["run", str(train), "-p", "memory", "-m", "b", "--interval", "0"])
assert r.exit_code == 0, r.output
print(sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "torch", "openai")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
