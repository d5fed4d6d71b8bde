"""Live progress of a waited-for job, on stderr.

On a terminal: one bar drawn by ``rich`` (imported only then), as wide as the terminal:
status, percentage, step/total, epoch, loss, validation loss and the step it was measured
at, tokens/s, elapsed time since the job was created, and an ETA once two steps have been
seen. Elsewhere (a pipe, a log file, CI): plain lines, one per status change and event.

Waiting on a job that already ended prints no history (``anytune events JOB`` has it); when
re-attaching to a running job with a long history only the latest events are shown.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from anytune.cli._common import redact
from anytune.cli.render import duration, event_line
from anytune.polling import Outage
from anytune.types import Event, Job

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

HISTORY_SHOWN = 10
"""Events of the first poll shown when there are more than ``HISTORY_FULL`` (re-attaching
to a long job); up to ``HISTORY_FULL`` (a job just created) are all shown."""
HISTORY_FULL = 20
OUTAGE_NOTE_EVERY = 60.0
"""Seconds between two "still retrying" lines during an outage."""


@dataclass
class State:
    """What is known about the job's progress."""

    status: str = "?"
    created_at: int | None = None
    step: int | None = None
    total: int | None = None
    epoch: float | None = None
    epochs: int | None = None
    loss: float | None = None
    valid_loss: float | None = None
    valid_step: int | None = None
    tokens_per_second: float | None = None
    estimated_finish: int | None = None

    def update(self, event: Event) -> None:
        m = event.metrics
        if m is None:
            return
        if m.step is not None:
            self.step = m.step
        self.total = m.total_steps or self.total
        self.epoch = m.epoch if m.epoch is not None else self.epoch
        self.loss = m.train_loss if m.train_loss is not None else self.loss
        if m.valid_loss is not None:
            self.valid_loss, self.valid_step = m.valid_loss, m.step
        if m.tokens_per_second is not None:
            self.tokens_per_second = m.tokens_per_second

    def details(self) -> list[str]:
        """The step/epoch/loss/speed parts, shortest first to drop."""
        parts: list[str] = []
        if self.step is not None:
            parts.append(f"step {self.step}/{self.total or '?'}")
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch:.2f}" + (f"/{self.epochs}" if self.epochs else ""))
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.valid_loss is not None:
            at = f" @{self.valid_step}" if self.valid_step is not None else ""
            parts.append(f"valid {self.valid_loss:.4f}{at}")
        if self.tokens_per_second is not None:
            parts.append(f"{self.tokens_per_second:,.0f} tok/s")
        return parts


class _Rate:
    """Seconds per step from the steps seen while waiting (None until two are seen)."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def see(self, step: int) -> None:
        now = time.monotonic()
        if self.first is None or step < self.first[1]:
            self.first = (now, step)
        self.last = (now, step)

    def eta(self, total: int | None) -> float | None:
        if self.first is None or self.last is None or not total:
            return None
        (t0, s0), (t1, s1) = self.first, self.last
        if s1 <= s0 or t1 <= t0:
            return None
        return (t1 - t0) / (s1 - s0) * max(0, total - s1)


class Progress:
    """Receives ``on_status`` / ``on_event`` / ``on_outage`` from the wait loop."""

    def __init__(
        self,
        job_id: str,
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
        quiet: bool = False,
        width: int | None = None,
    ):
        self.job_id = job_id
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = (not quiet) and (self._isatty() if live is None else live)
        self.width = width
        self.state = State()
        self.rate = _Rate()
        self._history: list[Event] | None = []  # until the first status: what came before
        self._last_outage_note = 0.0
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    # -- callbacks -----------------------------------------------------------------------
    def on_status(self, job: Job) -> None:
        state = self.state
        state.status = str(job.status)
        state.created_at = job.created_at
        state.estimated_finish = job.estimated_finish
        n_epochs = job.hyperparameters.n_epochs
        state.epochs = n_epochs if isinstance(n_epochs, int) else state.epochs
        history, self._history = self._history, None
        if history is not None:
            self._replay(history, finished=job.is_terminal)
        if self.quiet:
            return
        if self.live:
            self._draw()
        elif not job.is_terminal:  # the end is said once, by the command's final line
            self._line(f"{self.job_id}: {job.status}")

    def on_event(self, event: Event) -> None:
        self.state.update(event)
        if event.metrics is not None and event.metrics.step is not None:
            self.rate.see(event.metrics.step)
        if self._history is not None:
            self._history.append(event)
            return
        if self.quiet:
            return
        if not self.live:
            self._line(event_line(event))
            return
        if event.metrics is None or event.level != "info":
            self._line(event_line(event))
        self._draw()

    def on_outage(self, outage: Outage) -> None:
        now = time.monotonic()
        if outage.recovered:
            if outage.down_for >= 1 or outage.attempt > 1:
                self._line(
                    f"{self.job_id}: the provider answers again (after {duration(outage.down_for)})"
                )
            self._last_outage_note = 0.0
            return
        if outage.attempt > 1 and now - self._last_outage_note < OUTAGE_NOTE_EVERY:
            return
        self._last_outage_note = now
        error = outage.error.message if outage.error is not None else "no answer"
        self._line(
            f"{self.job_id}: provider unreachable ({error}); retrying in {outage.retry_in:.0f} s"
            f" (down {duration(outage.down_for)}; the job is not affected; Ctrl-C stops waiting)"
        )

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # -- rendering -----------------------------------------------------------------------
    def _replay(self, history: list[Event], *, finished: bool) -> None:
        """Events from before the wait: none for an ended job, the last few otherwise."""
        if finished or self.quiet:
            return
        shown = (
            [e for e in history if e.metrics is None or e.level != "info"] if self.live else history
        )
        if len(shown) > HISTORY_FULL:
            self._line(
                f"{self.job_id}: {len(shown) - HISTORY_SHOWN} earlier events "
                f"(`anytune events {self.job_id}` lists them all)"
            )
            shown = shown[-HISTORY_SHOWN:]
        for event in shown:
            self._line(event_line(event))

    def elapsed(self) -> float | None:
        """Seconds since the job was created (not since the wait started)."""
        if self.state.created_at is None:
            return None
        return max(0.0, time.time() - self.state.created_at)

    def eta(self) -> float | None:
        """Seconds left: from the steps seen, else the provider's estimate, else None."""
        eta = self.rate.eta(self.state.total)
        if eta is None and self.state.estimated_finish:
            left = self.state.estimated_finish - time.time()
            eta = left if left > 0 else None
        return eta

    def summary(self) -> str:
        """The progress as one plain line (what the live bar shows)."""
        parts = [self.job_id, self.state.status, *self.state.details()]
        elapsed = self.elapsed()
        if elapsed is not None:
            parts.append(f"elapsed {duration(elapsed)}")
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        return "  ".join(parts)

    def _draw(self) -> None:
        bar = self._bar or self._start_bar()
        state = self.state
        assert self._task is not None
        bar.update(
            self._task,
            total=state.total,
            completed=state.step or 0,
            status=state.status,
            details="  ".join(state.details()),
        )

    def _start_bar(self) -> RichProgress:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
        from rich.table import Column

        console = Console(
            file=self.stream,
            width=self.width,
            force_terminal=True if self.live else None,
            highlight=False,
            soft_wrap=False,
        )
        wide = console.width >= 100
        columns: list[Any] = [
            TextColumn("[bold]{task.fields[status]}", table_column=Column(no_wrap=True)),
            BarColumn(
                bar_width=None if wide else 10, table_column=Column(ratio=1) if wide else None
            ),
            TaskProgressColumn(table_column=Column(no_wrap=True)),
            # The details shrink (with an ellipsis) so the line always fits the terminal.
            TextColumn(
                "{task.fields[details]}",
                table_column=Column(ratio=2, no_wrap=True, overflow="ellipsis"),
            ),
            _clock_column(self),
        ]
        bar = Progress(
            *columns,
            console=console,
            auto_refresh=True,
            refresh_per_second=2,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
            expand=True,
        )
        self._task = bar.add_task(self.job_id, total=None, status=self.state.status, details="")
        bar.start()
        self._bar = bar
        return bar

    def _line(self, text: str) -> None:
        text = redact(text)
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, overflow="fold")
            return
        self.stream.write(text + "\n")
        self.stream.flush()


def _clock_column(progress: Progress) -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Clock(ProgressColumn):
        """Elapsed since the job was created, and the ETA (none until it is known)."""

        def __init__(self) -> None:
            from rich.table import Column

            super().__init__(table_column=Column(no_wrap=True))

        def render(self, task: Any) -> Text:
            elapsed = progress.elapsed()
            eta = progress.eta()
            text = f"{duration(elapsed)}" if elapsed is not None else ""
            if eta is not None:
                text += f" ETA {duration(eta)}"
            return Text(text)

    return Clock()


__all__ = ["Progress", "State"]
