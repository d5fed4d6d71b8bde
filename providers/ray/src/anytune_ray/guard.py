"""A process group that ends with its parent: how a multi-node job's node runs torchrun.

::

    python -m anytune_ray.guard --parent PID [--grace SECONDS] -- COMMAND...

Started in a new session by a Ray actor (``multinode.NodeRunner``), the guard leads the
process group that ``COMMAND`` (torchrun) and its training processes are in, so one
``killpg`` reaches all of them. It ends the group, SIGTERM then SIGKILL ``GRACE`` seconds
later (time for the recipe to write its result), when it gets SIGTERM (the actor's ``stop``
signals the whole group) or when ``PID`` is no longer its parent (the actor died without
stopping it: the job's driver was killed, a raylet went away). Should the guard itself be
SIGKILLed (Ray kills a dying worker's child processes), the kernel sends ``COMMAND`` SIGTERM
(``PR_SET_PDEATHSIG``), and torchrun stops its workers. The exit status is ``COMMAND``'s.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

GRACE = 10.0
"""Seconds the training has, after SIGTERM, to write its result before SIGKILL."""
_PR_SET_PDEATHSIG = 1


def guard(parent: int, argv: list[str], grace: float = GRACE) -> int:
    asked: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        asked.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    child = subprocess.Popen(argv, preexec_fn=_terminate_with_parent)
    while True:
        status = child.poll()
        if status is not None:
            return status
        if asked or os.getppid() != parent:
            break
        time.sleep(0.2)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not asked:  # the parent died: nobody has signalled the group yet
        with contextlib.suppress(ProcessLookupError):
            os.killpg(0, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=grace)
    os.killpg(0, signal.SIGKILL)  # what is left of the group, this guard included
    return 137


def _terminate_with_parent() -> None:
    """In the child, before exec: SIGTERM when the guard dies (Linux; no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anytune_ray.guard")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--grace", type=float, default=GRACE)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("the command goes after --")
    return guard(args.parent, command, args.grace)


if __name__ == "__main__":
    sys.exit(main())
