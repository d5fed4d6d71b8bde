"""Benchmark 5: `anytune serve` under polling while a local job trains.

One `anytune serve --provider local` process on 127.0.0.1 with the tiny model. Each arm trains
one job through the server's API:

- alone: the job is followed by one client polling once a second;
- polled: CLIENTS concurrent clients each poll `GET /v1/fine_tuning/jobs/{id}` and
  `GET .../events` every INTERVAL seconds for the whole run (asyncio, one connection each).

Reported: request latency p50 / p99 and requests per second (polled arm), and the job's real
training tokens per second (median over its step events, the first step left out as warm-up)
in both arms, pair by pair. Target (the issue's): the pollers slow training by at most 5%.

    python benchmarks/serve_polling.py            # full: 50 clients, 3 pairs
    python benchmarks/serve_polling.py --smoke    # seconds-sized, to keep the script working

Writes benchmarks/results/serve/results.md and results.json (or --out DIR). The pollers run
in this process, on the same cores as the server and the training: on a small machine their
own CPU use is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import Result, Target

NAME = "serve_polling"
TITLE = "5. anytune serve under polling"
SLOWDOWN_TARGET = 0.05


@dataclass(frozen=True)
class Config:
    clients: int
    interval: float
    max_steps: int
    pairs: int


FULL = Config(clients=50, interval=1.0, max_steps=150, pairs=3)
SMOKE = Config(clients=5, interval=0.5, max_steps=12, pairs=1)


@dataclass
class Arm:
    tokens_per_second: float
    latencies_ms: list[float]
    requests: int
    errors: int
    seconds: float
    server_cpu_s: float = 0.0
    """CPU seconds the server process used during the arm (not the worker's training)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, home: Path, model: Path, config: Config) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "server.log"
        argv = [
            sys.executable, "-m", "anytune.cli", "serve", "--provider", "local",
            "--port", str(self.port), "-m", f"tiny={model}", "--log-level", "warning",
            "-o", f"max_steps={config.max_steps}", "-o", "logging_steps=1",
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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _tokens_per_second(events: list[dict[str, Any]]) -> float:
    steps = sorted(
        (e["data"]["step"], e["data"]["tokens_per_second"])
        for e in events
        if e.get("type") == "metrics" and (e.get("data") or {}).get("tokens_per_second")
    )
    values = [tps for step, tps in steps if step > 1]
    if not values:
        raise RuntimeError("the job reported no training throughput")
    return float(statistics.median(values))


async def _train(url: str, file_id: str, clients: int, interval: float) -> Arm:
    import httpx2

    async with httpx2.AsyncClient(base_url=url, timeout=60) as http:
        created = await http.post(
            "/fine_tuning/jobs", json={"model": "tiny", "training_file": file_id}
        )
        created.raise_for_status()
        job_id = created.json()["id"]
        latencies: list[float] = []
        errors = 0
        done = asyncio.Event()

        async def poller(offset: float) -> None:
            nonlocal errors
            await asyncio.sleep(offset)
            async with httpx2.AsyncClient(base_url=url, timeout=60) as own:
                while not done.is_set():
                    for path in (
                        f"/fine_tuning/jobs/{job_id}",
                        f"/fine_tuning/jobs/{job_id}/events",
                    ):
                        start = time.perf_counter()
                        response = await own.get(path)
                        latencies.append((time.perf_counter() - start) * 1000)
                        errors += response.status_code != 200
                    await asyncio.sleep(interval)

        started = time.perf_counter()
        tasks = [
            asyncio.create_task(poller(i * interval / max(clients, 1))) for i in range(clients)
        ]
        while True:
            status = (await http.get(f"/fine_tuning/jobs/{job_id}")).json()["status"]
            if status in ("succeeded", "failed", "cancelled"):
                break
            await asyncio.sleep(1.0)
        seconds = time.perf_counter() - started
        done.set()
        await asyncio.gather(*tasks)
        if status != "succeeded":
            raise RuntimeError(f"job {job_id} ended {status}")
        events = (
            await http.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000})
        ).json()
        return Arm(_tokens_per_second(events["data"]), latencies, len(latencies), errors, seconds)


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
        server = Server(root / "home", model, config)
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
            file_id = uploaded.json()["id"]

            def arm(clients: int) -> Arm:
                before = server.cpu_seconds()
                measured = asyncio.run(_train(server.url, file_id, clients, config.interval))
                measured.server_cpu_s = server.cpu_seconds() - before
                return measured

            runs = common.alternate(
                [("alone", lambda: arm(0)), ("polled", lambda: arm(config.clients))],
                config.pairs,
            )
        finally:
            server.stop()
    alone, polled = runs["alone"], runs["polled"]
    ratio = common.pair_ratios(
        [a.tokens_per_second for a in polled], [a.tokens_per_second for a in alone]
    )
    latencies = [ms for arm in polled for ms in arm.latencies_ms]
    rps = [arm.requests / arm.seconds for arm in polled]
    errors = sum(arm.errors for arm in polled)
    # Server CPU per request: the polled arm's server CPU rate above the alone arm's, pair
    # by pair (the alone arm's server work is the job itself and one poll a second).
    per_request = [
        max(0.0, p.server_cpu_s / p.seconds - a.server_cpu_s / a.seconds) * p.seconds / p.requests
        for p, a in zip(polled, alone, strict=True)
        if p.requests
    ]
    result.table(
        ("arm", "training tokens/s (median [min–max])", "wall s per job"),
        [
            ("alone (1 client, 1 poll/s)", common.stat([a.tokens_per_second for a in alone]).fmt(), common.stat([a.seconds for a in alone]).fmt()),
            (f"polled ({config.clients} clients, job + events every {config.interval:g} s)", common.stat([a.tokens_per_second for a in polled]).fmt(), common.stat([a.seconds for a in polled]).fmt()),
        ],
    )  # fmt: skip
    result.table(
        ("requests", "requests/s", "p50 ms", "p99 ms", "server CPU ms per request", "errors"),
        [
            (
                f"{len(latencies):,}",
                common.stat(rps).fmt(),
                f"{_percentile(latencies, 0.5):.1f}" if latencies else "-",
                f"{_percentile(latencies, 0.99):.1f}" if latencies else "-",
                common.stat([x * 1000 for x in per_request]).fmt() if per_request else "-",
                str(errors),
            )
        ],
    )
    slowdown = 1 - ratio.median
    result.targets.append(
        Target(
            "training slowdown with pollers",
            f"≤ {SLOWDOWN_TARGET:.0%}",
            f"{slowdown:.1%} (polled/alone pair by pair: {ratio.fmt()})",
            None if smoke else slowdown <= SLOWDOWN_TARGET and errors == 0,
        )
    )
    result.notes.append(
        f"{config.pairs} pair(s), arms alternating; tiny model, {config.max_steps} steps per "
        "job; throughput from the job's own step events (real tokens/s)."
    )
    result.data = {
        "config": config.__dict__,
        "alone_tokens_per_second": [a.tokens_per_second for a in alone],
        "polled_tokens_per_second": [a.tokens_per_second for a in polled],
        "requests_per_second": rps,
        "p50_ms": _percentile(latencies, 0.5) if latencies else None,
        "p99_ms": _percentile(latencies, 0.99) if latencies else None,
        "errors": errors,
        "server_cpu_ms_per_request": [x * 1000 for x in per_request],
        "server_cpu_s": {
            "alone": [a.server_cpu_s for a in alone],
            "polled": [p.server_cpu_s for p in polled],
        },
    }
    return result


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
