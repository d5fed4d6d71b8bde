"""Benchmark 5: `anytune serve` under polling while a local job trains.

One `anytune serve --provider local` process on 127.0.0.1 with the tiny model trains one long
job through the server's API, followed all along by one client reading the job once a second.
CLIENTS more clients poll in phases: PHASE seconds without them, PHASE seconds with them, ...,
ending without (2 PAIRS + 1 phases), then the job is cancelled. While on, each client sends
`GET /v1/fine_tuning/jobs/{id}` and `GET .../events` every INTERVAL seconds on a fixed
schedule (a late answer does not lower the offered load), one keep-alive connection each.

Training throughput is the job's own real tokens per second (its step events), the median
over the steps of each phase; steps within MARGIN of a phase's start are left out (event
times are whole seconds, and the last requests of a phase may still be in flight). Each "on"
phase is compared with the mean of the "off" phases either side of it, and the slowdown is the
median of those pair ratios. Alternating within one job, instead of training one job per arm,
keeps what differs between jobs (the worker's start, another process on the machine) out of
the ratio; an earlier version of this benchmark ran a job per arm and saw the arm without
pollers alone range 2,108 to 2,788 tokens/s over three jobs.

The pollers stand in for remote clients: in a deployment they run on other machines. Clients
run at nice 19 in one process because they stand in for remote machines; the server and the
worker run at normal priority. That process (`_serve_pollers.py`) is as cheap a load generator
as it can be: requests written once and reused, answers read by their length (no JSON
parsing), uvloop when installed. The clients' CPU and the server's CPU are reported apart; the
latency is what the clients measure, so it includes their own wait for a core at nice 19.

Target (the issue's): the pollers slow training by at most 5%.

    python benchmarks/serve_polling.py            # full: 50 clients, 10 pairs of 8 s, ~3.5 min
    python benchmarks/serve_polling.py --smoke    # seconds-sized, to keep the script working

Writes benchmarks/results/serve/results.md and results.json (or --out DIR).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import Result, Target

NAME = "serve_polling"
TITLE = "5. anytune serve under polling"
SLOWDOWN_TARGET = 0.05
MARGIN = 1.0
"""Seconds at the start of each phase whose steps are left out."""
WARMUP_STEPS = 5
"""Steps before the first phase starts: the first ones run while the worker settles."""


@dataclass(frozen=True)
class Config:
    clients: int
    interval: float
    phase_s: float
    pairs: int


FULL = Config(clients=50, interval=1.0, phase_s=8.0, pairs=10)
SMOKE = Config(clients=5, interval=0.5, phase_s=3.0, pairs=1)
STEPS_PER_SECOND_BOUND = 100
"""Far above what the tiny model trains here (~10 steps/s): the job's max_steps is set so
that it cannot end before its phases, and is cancelled once they are done (it also ends by
itself, minutes later, should this script be killed)."""


@dataclass
class Phase:
    polled: bool
    start: float
    """Wall-clock time (``time.time()``, as the step events' times)."""
    end: float = 0.0
    server_cpu_s: float = 0.0
    tokens_per_second: list[float] = field(default_factory=list)
    requests: int = 0

    @property
    def median(self) -> float | None:
        return statistics.median(self.tokens_per_second) if self.tokens_per_second else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, home: Path, model: Path, max_steps: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "server.log"
        self.home = home
        argv = [
            sys.executable, "-m", "anytune.cli", "serve", "--provider", "local",
            "--port", str(self.port), "-m", f"tiny={model}", "--log-level", "warning",
            "-o", f"max_steps={max_steps}", "-o", "logging_steps=1",
            "-o", "save_steps=100000", "-o", "lora_r=4", "-o", "lora_alpha=8",
        ]  # fmt: skip
        env = {**os.environ, "ANYTUNE_HOME": str(home)}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anytune serve did not start: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """The server process's own CPU time so far (user + system)."""
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def end_workers(self, timeout: float = 60.0) -> None:
        """Wait until no training process of this server's home is left (a cancelled job
        stops at its next step), then kill any still there: the job never ends by itself."""
        import psutil

        def left() -> list[psutil.Process]:
            found = []
            for process in psutil.process_iter(["cmdline"]):
                with contextlib.suppress(psutil.Error):
                    if any(str(self.home) in part for part in process.info["cmdline"] or ()):
                        found.append(process)
            return found

        deadline = time.monotonic() + timeout
        while (running := left()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for process in running:
            with contextlib.suppress(psutil.Error):
                process.kill()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Pollers:
    """The pollers' process (``_serve_pollers.py``, nice 19): paused until ``poll()``."""

    def __init__(self, port: int, job_id: str, config: Config, out: Path) -> None:
        self.out = out
        argv = [sys.executable, str(common.BENCH_DIR / "_serve_pollers.py"), str(port), job_id]
        argv += [str(config.clients), str(config.interval), str(out)]
        self.process = subprocess.Popen(argv)
        deadline = time.monotonic() + 60
        while not out.with_suffix(".ready").exists():  # its handlers are installed
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the pollers' process did not start")
            time.sleep(0.05)

    def poll(self, on: bool) -> None:
        self.process.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(60) != 0:
            raise RuntimeError(f"the pollers' process failed ({self.process.returncode})")
        found: dict[str, Any] = json.loads(self.out.read_text())
        return found


def _steps(http: Any, job_id: str) -> list[tuple[int, int, float]]:
    """``(step, created_at, tokens/s)`` of the job's step events."""
    events = http.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000}).json()
    found: dict[int, tuple[int, int, float]] = {}
    after = None
    while True:
        for event in events["data"]:
            data = event.get("data") or {}
            if event.get("type") == "metrics" and data.get("tokens_per_second"):
                found[data["step"]] = (data["step"], event["created_at"], data["tokens_per_second"])
        if not events["has_more"]:
            return sorted(found.values())
        after = events["data"][-1]["id"]
        events = http.get(
            f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000, "after": after}
        ).json()


def _measure(
    server: Server, file_id: str, config: Config, out: Path
) -> tuple[list[Phase], dict[str, Any]]:
    """Train one job through phases without and with the pollers; cancel it at the end."""
    import httpx2

    with httpx2.Client(base_url=server.url, timeout=60) as http:
        created = http.post("/fine_tuning/jobs", json={"model": "tiny", "training_file": file_id})
        created.raise_for_status()
        job_id = created.json()["id"]
        pollers = Pollers(server.port, job_id, config, out)
        phases: list[Phase] = []
        try:
            # The one follower: reads the job once a second, from start to end, in every phase.
            def follow(until: float) -> None:
                while True:
                    status = http.get(f"/fine_tuning/jobs/{job_id}").json()["status"]
                    if status in ("succeeded", "failed", "cancelled"):
                        raise RuntimeError(f"job {job_id} ended {status} before the phases did")
                    left = until - time.time()
                    if left <= 0:
                        return
                    time.sleep(min(1.0, left))

            while not [s for s in _steps(http, job_id) if s[0] > WARMUP_STEPS]:
                follow(time.time() + 1.0)
            cpu = server.cpu_seconds()
            for number in range(2 * config.pairs + 1):
                phase = Phase(polled=number % 2 == 1, start=time.time())
                pollers.poll(phase.polled)
                follow(phase.start + config.phase_s)
                phase.end = time.time()
                now_cpu = server.cpu_seconds()
                phase.server_cpu_s, cpu = now_cpu - cpu, now_cpu
                phases.append(phase)
            pollers.poll(False)
            steps = _steps(http, job_id)
        finally:
            try:
                polled = pollers.stop()
            finally:
                http.post(f"/fine_tuning/jobs/{job_id}/cancel")
                server.end_workers()
    for phase in phases:
        # An event at whole second c happened in [c, c + 1): keep it when that is inside.
        phase.tokens_per_second = [
            tps for _, at, tps in steps if phase.start + MARGIN <= at and at + 1 <= phase.end
        ]
        phase.requests = sum(phase.start <= t < phase.end for t in polled["started"])
    return phases, polled


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(smoke: bool) -> Result:
    result = Result(NAME, TITLE)
    missing = common.missing_modules("fastapi", "uvicorn", "anytune_local", "httpx2", "psutil")
    if missing:
        return common.skipped(NAME, TITLE, f"{', '.join(missing)} not installed")
    config = SMOKE if smoke else FULL
    from anytune_local.recipe.tiny import make_tiny_model

    from anytune.testing.data import write_chat_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = make_tiny_model(root / "model")
        train = write_chat_jsonl(root / "train.jsonl", 64)
        seconds = (2 * config.pairs + 1) * config.phase_s
        server = Server(root / "home", model, int(seconds * STEPS_PER_SECOND_BOUND))
        try:
            import httpx2

            with train.open("rb") as handle:
                uploaded = httpx2.post(
                    f"{server.url}/files",
                    files={"file": ("train.jsonl", handle)},
                    data={"purpose": "fine-tune"},
                    timeout=60,
                )
            uploaded.raise_for_status()
            load_before = os.getloadavg()
            phases, polled = _measure(server, uploaded.json()["id"], config, root / "polled.json")
            load_after = os.getloadavg()
        finally:
            server.stop()
            server.end_workers(timeout=10.0)
    _report(result, config, phases, polled, smoke)
    result.notes.append(
        "Load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )
    result.data["load_average"] = {"before": list(load_before), "after": list(load_after)}
    return result


def _report(
    result: Result, config: Config, phases: list[Phase], polled: dict[str, Any], smoke: bool
) -> None:
    off, on = phases[0::2], phases[1::2]
    ratios: list[float] = []
    server_ms: list[float] = []
    for index, phase in enumerate(on):
        before, after = off[index], off[index + 1]
        if phase.median and before.median and after.median:
            ratios.append(phase.median / ((before.median + after.median) / 2))
        # The server's CPU above what it used without the pollers over as long a time.
        rate = (before.server_cpu_s + after.server_cpu_s) / (
            before.end - before.start + after.end - after.start
        )
        if phase.requests:
            extra = phase.server_cpu_s - rate * (phase.end - phase.start)
            server_ms.append(max(0.0, extra) / phase.requests * 1000)
    latencies = polled["latencies_ms"]
    requests = len(latencies)
    on_seconds = sum(p.end - p.start for p in on)
    client_ms = polled["cpu_s"] / requests * 1000 if requests else None

    def tps(group: list[Phase]) -> str:
        medians = [p.median for p in group if p.median]
        return common.stat(medians).fmt() if medians else "-"

    result.table(
        ("phase", "phases", "steps counted", "training tokens/s (median of phase medians [min–max])"),
        [
            ("without pollers (1 client, 1 read/s)", str(len(off)), str(sum(len(p.tokens_per_second) for p in off)), tps(off)),
            (f"with {config.clients} pollers (job + events every {config.interval:g} s)", str(len(on)), str(sum(len(p.tokens_per_second) for p in on)), tps(on)),
        ],
    )  # fmt: skip
    result.table(
        ("requests", "requests/s", "p50 ms", "p99 ms", "server CPU ms per request", "client CPU ms per request (nice 19)", "errors"),
        [
            (
                f"{requests:,}",
                f"{requests / on_seconds:.1f}" if on_seconds else "-",
                f"{_percentile(latencies, 0.5):.1f}" if latencies else "-",
                f"{_percentile(latencies, 0.99):.1f}" if latencies else "-",
                common.stat(server_ms).fmt() if server_ms else "-",
                f"{client_ms:.3f}" if client_ms is not None else "-",
                str(polled["errors"]),
            )
        ],
    )  # fmt: skip
    if ratios:
        ratio = common.stat(ratios)
        slowdown = 1 - ratio.median
        measured = f"{slowdown:.1%} (with/without, pair by pair: {ratio.fmt()})"
        met = None if smoke else slowdown <= SLOWDOWN_TARGET and polled["errors"] == 0
    else:
        measured, met = "no phase had steps to compare", None if smoke else False
    result.targets.append(
        Target("training slowdown with pollers", f"≤ {SLOWDOWN_TARGET:.0%}", measured, met)
    )
    result.notes.append(
        f"One job, {len(phases)} phases of {config.phase_s:g} s (without, with, ..., without); "
        f"tiny model; steps within {MARGIN:g} s of a phase's start left out; each phase with "
        "pollers over the mean of the phases without either side of it; pair ratios: "
        + ", ".join(f"{r:.3f}" for r in ratios)
        + "."
    )
    result.notes.append(
        "Clients run at nice 19 in one process because they stand in for remote machines; the "
        "server and the worker run at normal priority. Latency is the clients' own measure, "
        "so it includes their wait for a core at nice 19."
    )
    result.data = {
        "config": config.__dict__,
        "pair_ratios": ratios,
        "phases": [
            {
                "polled": p.polled,
                "seconds": p.end - p.start,
                "steps": len(p.tokens_per_second),
                "median_tokens_per_second": p.median,
                "server_cpu_s": p.server_cpu_s,
                "requests": p.requests,
            }
            for p in phases
        ],
        "requests_per_second": requests / on_seconds if on_seconds else None,
        "p50_ms": _percentile(latencies, 0.5) if latencies else None,
        "p99_ms": _percentile(latencies, 0.99) if latencies else None,
        "errors": polled["errors"],
        "server_cpu_ms_per_request": server_ms,
        "client_cpu_ms_per_request": client_ms,
        "client_cpu_s": polled["cpu_s"],
        "client_nice": 19,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="seconds-sized; target not judged")
    parser.add_argument("--out", type=Path, default=common.BENCH_DIR / "results" / "serve")
    args = parser.parse_args(argv)
    command = shlex.join(
        ["python", os.path.relpath(sys.argv[0]), *(argv if argv is not None else sys.argv[1:])]
    )
    start = time.perf_counter()
    result = run(args.smoke)
    result.seconds = time.perf_counter() - start
    md, js = common.write_results(args.out, [result], common.machine(), command, args.smoke)
    print(f"Wrote {md} and {js}", file=sys.stderr)
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
