"""The recipe without the local store: one training process that reads a request, trains with
the same recipe as the local worker (``training.train_request``), and reports as JSON lines.

::

    python -m anytune_local.run_spec REQUEST.json --result RESULT.json \
        [--events EVENTS.jsonl] [--control CONTROL]

``REQUEST.json`` is a ``recipe.TrainRequest`` (paths to the training files, the checkpoint and
adapter directories). Rank 0 (``RANK``, set by torchrun) appends one JSON object per line to
``EVENTS.jsonl`` and prints the same line, prefixed ``anytune-event``, to stdout:

- ``{"kind": "event", "created_at", "level", "message", "metrics"?}``
- ``{"kind": "checkpoint", "created_at", "step", "path", "metrics"}``
- ``{"kind": "hyperparameters", "created_at", "resolved"}``

Training stops when ``CONTROL`` holds ``pause`` (a checkpoint is saved first) or ``cancel``,
or when the process gets SIGTERM/SIGINT (cancel). The result file is written as by the local
worker's training process (``result.json`` from rank 0, ``result-rank<N>.json`` from a rank
that failed), and the exit status is 0 exactly when the recipe returned.

Schedulers that are not the local worker (the Ray provider's jobs) run this module, so both
providers train with one recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any

from anytune.types import Metrics
from anytune_local.training import train_request, write_outcome

LINE_PREFIX = "anytune-event "
STOP_ACTIONS = ("pause", "cancel")


class LineReporter:
    """A ``recipe.Reporter`` that writes JSON lines (rank 0 only) and reads stop requests
    from a control file or a signal."""

    def __init__(
        self,
        events: Path | None,
        *,
        control: Path | None = None,
        primary: bool = True,
        stdout: IO[str] | None = None,
    ) -> None:
        self.events = events
        self.control = control
        self.primary = primary
        self.stdout = stdout if stdout is not None else sys.stdout
        self.signalled: str | None = None

    def event(self, message: str, *, level: str = "info", metrics: Metrics | None = None) -> None:
        record: dict[str, Any] = {"kind": "event", "level": level, "message": message}
        if metrics is not None:
            record["metrics"] = metrics.to_dict()
        self._write(record)

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        self._write({"kind": "checkpoint", "step": step, "path": str(path), "metrics": clean})
        self.event(
            f"Checkpoint saved at step {step}: {path}", metrics=Metrics(step=step, extra=clean)
        )

    def hyperparameters(self, resolved: dict[str, Any]) -> None:
        self._write({"kind": "hyperparameters", "resolved": dict(resolved)})

    def should_stop(self) -> str | None:
        if self.signalled:
            return "cancel"
        if self.control is None:
            return None
        try:
            action = self.control.read_text(encoding="utf-8").strip()
        except OSError:  # no control file: nobody asked
            return None
        return action if action in STOP_ACTIONS else None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = signal.Signals(signum).name

    def _write(self, record: dict[str, Any]) -> None:
        if not self.primary:
            return
        record["created_at"] = int(time.time())
        line = json.dumps(record, default=str, sort_keys=True)
        if self.events is not None:
            # One write() of a whole line in append mode: a reader never sees half of it
            # unless it reads while the line is being written (readers skip a last line
            # without its newline).
            with self.events.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        print(LINE_PREFIX + line, file=self.stdout, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anytune_local.run_spec")
    parser.add_argument("request", type=Path, help="a recipe TrainRequest as JSON")
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--events", type=Path)
    parser.add_argument("--control", type=Path)
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    reporter = LineReporter(args.events, control=args.control, primary=rank == 0)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, reporter.on_signal)
    if rank == 0:
        reporter.event(f"Training process started (pid {os.getpid()}).")
    outcome = train_request(args.request, reporter)
    if rank == 0:
        write_outcome(args.result, outcome)
    elif not outcome["ok"]:
        write_outcome(args.result.with_name(f"result-rank{rank}.json"), outcome)
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    code = main()
    # The result is on disk: skip the interpreter's slow teardown of torch (about a second).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
