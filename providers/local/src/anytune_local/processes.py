"""Process plumbing for workers: start one detached, tell whether one is still alive (pid
reuse included), stop a whole process tree, and tie a child's life to its parent.

Only ``psutil`` and the standard library: the CLI uses this on every status call.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

_PR_SET_PDEATHSIG = 1
_START_TIME_TOLERANCE = 1.0
"""Seconds two readings of one process's start time may differ (psutil rounds)."""

# Popen objects of workers this process started, so they are reaped (no zombies) and their
# exit codes are known while this process lives.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


def hostname() -> str:
    return socket.gethostname()


def start_time(pid: int) -> float | None:
    """The process's start time (seconds since the epoch), or None if it does not exist."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def is_alive(pid: int, started: float | None) -> bool:
    """True if ``pid`` runs and is the same process that started at ``started``.

    A zombie (exited, not yet reaped) counts as dead; so does a different process that got
    the same pid after a restart.
    """
    child = _spawned.get(pid)
    if child is not None and child.poll() is not None:
        _spawned.pop(pid, None)
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is not None and abs(proc.create_time() - started) > _START_TIME_TOLERANCE:
            return False
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
    return True


def exit_status_of(pid: int) -> int | None:
    """Exit code (negative: killed by that signal) of a worker this process started, if known."""
    child = _spawned.get(pid)
    return None if child is None else child.poll()


def python_argv(*args: str) -> list[str]:
    """``python -P ARGS``: this interpreter, never importing from its working directory.

    ``-P`` (Python 3.11+) keeps the current directory off ``sys.path`` while still reading
    site-packages (editable installs are ``.pth`` files there) and ``PYTHONPATH``. Workers
    also run in their job directory, so on older Pythons the directory on the path is one
    anytune made, never the one the user typed ``anytune create`` in.
    """
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *safe, *args]


def isolated_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment for worker and training processes.

    ``PYTHONSAFEPATH=1`` gives processes that others start for us (torchrun's ranks) the same
    ``-P`` protection; ``PYTHONSTARTUP`` and ``PYTHONINSPECT`` are dropped as they run code.
    """
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONSTARTUP", "PYTHONINSPECT"):
        env.pop(name, None)
    env["PYTHONSAFEPATH"] = "1"
    env.update(extra)
    return env


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """``os.open`` with mode 0600, tightening a file that exists with wider permissions."""
    fd = os.open(path, flags, 0o600)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in its own session with output appended to ``log_path``; return its pid.

    The new process does not die with this one (a CLI command may exit at once), ignores
    the terminal's Ctrl-C, runs in ``cwd`` (default: the log's directory, never the user's
    working directory) and creates files private to the user (umask 077).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    workdir = cwd if cwd is not None else log_path.parent
    with (
        os.fdopen(open_private(log_path), "ab") as log,
        open(os.devnull, "rb") as devnull,
    ):
        proc = subprocess.Popen(
            list(argv),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=workdir,
            umask=0o077,
        )
    _spawned[proc.pid] = proc
    for pid, child in list(_spawned.items()):
        if child.poll() is not None and pid != proc.pid:
            _spawned.pop(pid, None)
    return proc.pid


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; no-op elsewhere).

    Used by training processes so that killing a worker (or the machine's OOM killer taking
    it) never leaves an orphan training on.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def parent_gone(expected_parent: int) -> bool:
    """True once this process was re-parented (its parent exited)."""
    return os.getppid() != expected_parent


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and every descendant (descendants first), skipping ones that already exited."""
    try:
        root = psutil.Process(pid)
        return [*root.children(recursive=True), root]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def terminate_tree(pid: int, *, grace: float = 5.0, include_root: bool = True) -> None:
    """SIGTERM ``pid``'s descendants (and ``pid``), then SIGKILL whatever remains after
    ``grace`` seconds. Works across sessions (torchrun starts ranks in their own)."""
    procs = process_tree(pid)
    if not include_root:
        procs = [p for p in procs if p.pid != pid]
    if not procs:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants at once."""
    procs = process_tree(pid)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5.0)
    exit_status_of(pid)  # reap it if this process started it


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def describe_exit(returncode: int) -> str:
    """ "exited with code 1" / "was killed by SIGKILL"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
