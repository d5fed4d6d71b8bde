"""What every benchmark shares: the alternating A/B runner, median and spread, pair-by-pair
ratios, whole-process timing with peak RSS, the machine description, and (re-exported from
``report``) the result types and the markdown + JSON writers.

Benchmarks are scripts, not a package: ``python benchmarks/run.py`` puts this folder on
``sys.path``, so each module imports this one as ``common``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from report import Result, Table, Target, render_markdown, skipped, write_results

__all__ = [
    "ProcessRun",
    "Result",
    "Stat",
    "Table",
    "Target",
    "alternate",
    "machine",
    "pair_ratios",
    "render_markdown",
    "run_process",
    "skipped",
    "stat",
    "write_results",
]

T = TypeVar("T")

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
"""Scratch space (gitignored): generated data, tiny models, the LiteLLM venv."""

PACKAGES = (
    "anytune",
    "anytune-openai",
    "anytune-local",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "openai",
    "click",
)


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Stat:
    """Median and spread (min and max) of repeated measurements."""

    median: float
    low: float
    high: float
    n: int
    values: tuple[float, ...]

    def fmt(self, digits: int = 3, unit: str = "") -> str:
        """``median [low–high]``; just the median when there is one value."""
        if self.n == 1:
            return f"{num(self.median, digits)}{unit}"
        return (
            f"{num(self.median, digits)}{unit} [{num(self.low, digits)}–{num(self.high, digits)}]"
        )

    def fmt_percent(self) -> str:
        if self.n == 1:
            return f"{self.median:.1%}"
        return f"{self.median:.1%} [{self.low:.1%}–{self.high:.1%}]"

    def fmt_count(self) -> str:
        """Like ``fmt`` for counts: whole numbers with thousands separators."""
        if self.low == self.high:
            return f"{self.median:,.0f}"
        return f"{self.median:,.0f} [{self.low:,.0f}–{self.high:,.0f}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "n": self.n,
            "values": list(self.values),
        }


def num(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, but whole numbers with separators from 1000 up."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def stat(values: Sequence[float]) -> Stat:
    """Summarise ``values`` (at least one) as median and min–max."""
    if not values:
        raise ValueError("stat() needs at least one value")
    floats = tuple(float(v) for v in values)
    return Stat(statistics.median(floats), min(floats), max(floats), len(floats), floats)


def pair_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Stat:
    """Ratios taken pair by pair (run i of A over run i of B), then summarised.

    Pairing cancels drift that affects both arms of one pair (thermal state, a noisy
    neighbour), which a ratio of medians would not.
    """
    if len(numerators) != len(denominators):
        raise ValueError("pair_ratios needs the same number of runs on both sides")
    return stat([a / b for a, b in zip(numerators, denominators, strict=True) if b])


def alternate(arms: Sequence[tuple[str, Callable[[], T]]], pairs: int) -> dict[str, list[T]]:
    """Run every arm once per round, ``pairs`` rounds, reversing the order every other round
    (A B, B A, A B, ...) so that neither arm always runs first. Returns results per arm, in
    round order, so that ``result[a][i]`` and ``result[b][i]`` form pair ``i``."""
    results: dict[str, list[T]] = {name: [] for name, _ in arms}
    for round_ in range(pairs):
        order = list(arms) if round_ % 2 == 0 else list(reversed(arms))
        for name, run in order:
            results[name].append(run())
    return results


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcessRun:
    """One whole process: wall time, peak RSS (its own, from ``wait4``) and its output."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    max_rss_mb: float
    cpu_s: float
    """User + system CPU seconds of the process (less sensitive than wall time to other load)."""
    stdout: str
    stderr: str

    def check(self) -> ProcessRun:
        """Raise ``RuntimeError`` with the tail of stderr when the process failed."""
        if self.returncode != 0:
            tail = (self.stderr or self.stdout).strip().splitlines()[-15:]
            raise RuntimeError(
                f"{' '.join(self.argv)} exited {self.returncode}:\n" + "\n".join(tail)
            )
        return self


# A launcher small enough (a bare ``python -S``, ~8 MB) not to lift the child's peak RSS: on
# Linux a child's ru_maxrss starts from its parent's memory at fork/exec, so the benchmark
# process itself (hundreds of MB once it imports torch) must not be the direct parent. The
# launcher forks, execs the command, reaps it with wait4 and writes
# "wall_s maxrss_kib cpu_s".
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, ("cannot run %s: %s\\n" % (argv[0], exc)).encode())
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as f:
    f.write("%.6f %d %.6f" % (wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600.0,
    stdin_text: str | None = None,
) -> ProcessRun:
    """Run ``argv`` to completion and measure it as a whole process: wall time from fork to
    exit and its own peak RSS, both taken by a tiny launcher (see ``_LAUNCHER``).

    Output goes to temporary files, so the child never blocks on a full pipe. On timeout the
    whole process group is killed and ``TimeoutError`` raised.
    """
    with tempfile.TemporaryDirectory(prefix="anytune-bench-") as tmp:
        report = Path(tmp) / "report"
        stdout_path, stderr_path = Path(tmp) / "out", Path(tmp) / "err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            launcher = [sys.executable, "-S", "-I", "-c", _LAUNCHER, str(report), *argv]
            proc = subprocess.Popen(
                launcher,
                stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
            if stdin_text is not None and proc.stdin is not None:
                proc.stdin.write(stdin_text.encode())
                proc.stdin.close()
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise TimeoutError(f"{' '.join(argv)} ran past {timeout:g} s") from None
        try:
            wall_text, rss_text, cpu_text = report.read_text().split()
        except (OSError, ValueError):
            raise RuntimeError(
                f"the launcher did not report on {' '.join(argv)}: {stderr_path.read_text()[-500:]}"
            ) from None
        return ProcessRun(
            argv=tuple(argv),
            returncode=returncode,
            wall_s=float(wall_text),
            # Linux reports ru_maxrss in KiB.
            max_rss_mb=int(rss_text) / 1024,
            cpu_s=float(cpu_text),
            stdout=stdout_path.read_text(errors="replace"),
            stderr=stderr_path.read_text(errors="replace"),
        )


def bench_env(**extra: str) -> dict[str, str]:
    """The environment for benchmark subprocesses: offline, no user state, quiet tokenizers."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("ANYTUNE_PROVIDER", None)
    env.update(extra)
    return env


def anytune_executable() -> str | None:
    """The ``anytune`` console script next to this Python, else one on PATH."""
    beside = Path(sys.executable).with_name("anytune")
    if beside.exists():
        return str(beside)
    return shutil.which("anytune")


def missing_modules(*names: str) -> list[str]:
    """Which of ``names`` cannot be found, without importing them."""
    from importlib.util import find_spec

    missing = []
    for name in names:
        try:
            if find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, GPUs, OS, Python and the versions of the packages measured."""
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "gpus": _gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }


def standalone(run: Callable[[bool], Result], argv: Sequence[str] | None = None) -> int:
    """``python benchmarks/NAME.py [--smoke] [--out DIR]``: run one benchmark on its own, print
    its section of the table, and write DIR/results.{md,json} when ``--out`` is given."""
    import argparse

    parser = argparse.ArgumentParser(description=(sys.modules[run.__module__].__doc__ or ""))
    parser.add_argument("--smoke", action="store_true", help="Smoke-sized: seconds, not judged.")
    parser.add_argument("--out", type=Path, help="Write results.md and results.json here.")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(args.smoke)
    result.seconds = time.perf_counter() - start
    command = " ".join(["python", *sys.argv])
    info = machine()
    if args.out:
        write_results(args.out, [result], info, command, args.smoke)
    print(render_markdown([result], info, command, args.smoke))
    return 0 if result.status != "error" else 1
