"""Benchmark 4: polling cost of following a job to the end.

A local OpenAI-protocol server (``anytune_openai.testing.FakeOpenAIServer``) runs a job that
lasts N poll intervals and writes M events per interval (jobs advance per poll, so both arms
see the same job whatever their timing). Two followers, each a whole process, each showing
every event once:

- candidate: ``anytune wait JOB -p openai`` (one job GET and one incremental events page per
  poll);
- baseline: the loop people write with the SDK: each poll, ``jobs.retrieve`` and then the
  whole event list (``list(jobs.list_events(id))``, which pages through everything with the
  API's default page size).

Requests are counted by the server per route; bytes by a counting TCP proxy in front of it.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import Result, Target

NAME = "polling"
TITLE = "4. Polling cost"
API_KEY = "sk-bench-fake-key"
INTERVAL_S = 0.01
"""Seconds between polls in both arms; the job advances per poll, so this only sets speed."""

NAIVE_LOOP = """
import sys, time
import openai

base_url, api_key, job_id, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
client = openai.OpenAI(base_url=base_url, api_key=api_key)
seen = set()
while True:
    job = client.fine_tuning.jobs.retrieve(job_id)
    events = list(client.fine_tuning.jobs.list_events(job_id))  # every page, newest first
    for event in reversed(events):
        if event.id not in seen:
            seen.add(event.id)
            print(event.created_at, event.message, file=sys.stderr)
    if job.status in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(interval)
print(job.status, job.fine_tuned_model)
"""


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that counts the bytes flowing each way."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> tuple[int, int]:
        with self._lock:
            counts = (self.sent, self.received)
            self.sent = self.received = 0
        return counts

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if upward:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@dataclass
class Follow:
    """One follower's run over one job."""

    requests: dict[str, int]
    bytes_sent: int
    bytes_received: int
    wall_s: float
    events_total: int
    events_shown: int

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@contextmanager
def fake_server(events_per_poll: int, polls: int) -> Iterator[tuple[Any, CountingProxy]]:
    from anytune_openai.testing import FakeOpenAIServer

    server = FakeOpenAIServer(
        api_key=API_KEY,
        advance="poll",
        ticks_per_poll=events_per_poll,
        total_steps=events_per_poll * polls,
    )
    with server:
        host, port = server.root_url.removeprefix("http://").split(":")
        proxy = CountingProxy((host, int(port)))
        try:
            yield server, proxy
        finally:
            proxy.close()


def _new_job(server: Any, data: Path) -> str:
    from anytune import Client

    client = Client("openai", api_key=API_KEY, base_url=server.url)
    uploaded = client.files.create(data)
    job = client.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
    return job.id


def _follow(
    server: Any, proxy: CountingProxy, job_id: str, argv: list[str], env: dict[str, str]
) -> Follow:
    server.reset_requests()
    proxy.reset()
    run = common.run_process(argv, env=env, timeout=300).check()
    sent, received = proxy.reset()
    counts: dict[str, int] = {}
    for request in server.requests:
        route = request.route.replace("/v1/fine_tuning/jobs/{id}", "job")
        counts[route] = counts.get(route, 0) + 1
    events = [e["message"] for e in server.api.jobs[job_id].events]
    shown = sum(1 for message in events if message in run.stderr)
    return Follow(counts, sent, received, run.wall_s, len(events), shown)


def measure(polls: int, events_per_poll: int, pairs: int, work: Path) -> dict[str, list[Follow]]:
    """Alternate both followers over fresh jobs of the same shape, ``pairs`` times each."""
    anytune = common.anytune_executable()
    if anytune is None:
        raise RuntimeError("the anytune console script is not installed")
    data = work / "train.jsonl"
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"hi {i}"},
                {"role": "assistant", "content": "ok"},
            ]
        }
        for i in range(20)
    ]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = common.bench_env(ANYTUNE_HOME=str(work / "home"), OPENAI_API_KEY=API_KEY)
    with fake_server(events_per_poll, polls) as (server, proxy):
        url = f"http://127.0.0.1:{proxy.port}/v1"

        def candidate() -> Follow:
            job_id = _new_job(server, data)
            argv = [anytune, "wait", job_id, "-p", "openai", "-P", f"base_url={url}"]
            return _follow(server, proxy, job_id, [*argv, "--interval", str(INTERVAL_S)], env)

        def baseline() -> Follow:
            job_id = _new_job(server, data)
            argv = [sys.executable, "-c", NAIVE_LOOP, url, API_KEY, job_id, str(INTERVAL_S)]
            return _follow(server, proxy, job_id, argv, env)

        return common.alternate([("naive loop", baseline), ("anytune wait", candidate)], pairs)


def _cell(follows: list[Follow], attr: str) -> str:
    values = common.stat([float(getattr(f, attr)) for f in follows])
    return values.fmt(3) if attr == "wall_s" else values.fmt_count()


def run(smoke: bool) -> Result:
    """Follow jobs of a few lengths with both followers and compare their traffic."""
    result = Result(NAME, TITLE)
    missing = common.missing_modules("anytune_openai", "anytune_openai.testing", "openai")
    if missing:
        return common.skipped(NAME, TITLE, f"{', '.join(missing)} not installed")
    shapes = [(5, 3)] if smoke else [(10, 5), (50, 5), (100, 10)]
    pairs = 1 if smoke else 2  # request counts are deterministic; pairs are for wall time
    rows = []
    data: dict[str, Any] = {"interval_s": INTERVAL_S, "pairs": pairs, "shapes": []}
    ratios: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for polls, per_poll in shapes:
            runs = measure(polls, per_poll, pairs, Path(tmp))
            naive, ours = runs["naive loop"], runs["anytune wait"]
            req_ratio = common.pair_ratios(
                [f.total_requests for f in naive], [f.total_requests for f in ours]
            )
            byte_ratio = common.pair_ratios(
                [f.bytes_received for f in naive], [f.bytes_received for f in ours]
            )
            ratios.append((polls, req_ratio.median))
            for label, follows in (("naive loop (SDK)", naive), ("anytune wait", ours)):
                routes = ", ".join(f"{k} {v}" for k, v in sorted(follows[0].requests.items()))
                rows.append(
                    (
                        f"{polls} polls × {per_poll} events",
                        label,
                        _cell(follows, "total_requests"),
                        routes,
                        _cell(follows, "bytes_received"),
                        _cell(follows, "wall_s"),
                        f"{follows[0].events_shown}/{follows[0].events_total}",
                    )
                )
            rows.append(
                (
                    "",
                    "naive ÷ anytune",
                    req_ratio.fmt(3, "×"),
                    "",
                    byte_ratio.fmt(3, "×"),
                    "",
                    "",
                )
            )
            data["shapes"].append(
                {
                    "polls": polls,
                    "events_per_poll": per_poll,
                    "naive": [f.__dict__ for f in naive],
                    "anytune": [f.__dict__ for f in ours],
                    "requests_ratio": req_ratio.to_dict(),
                    "bytes_received_ratio": byte_ratio.to_dict(),
                }
            )
            incomplete = [f for f in naive + ours if f.events_shown != f.events_total]
            if incomplete:
                result.status = "error"
                result.reason = "a follower did not show every event of its job"
    result.table(
        (
            "job",
            "follower",
            "requests",
            "by route",
            "bytes received",
            "wall time (s)",
            "events shown",
        ),
        rows,
    )
    from anytune_openai import provider as openai_provider

    page = getattr(openai_provider, "PAGE_SIZE", "?")
    result.notes.append(
        "Jobs advance per poll (M steps per job GET), so both followers poll the same number of"
        f" times; interval {INTERVAL_S} s. Bytes: response bytes through a counting TCP proxy"
        " (headers included). The naive loop pages with the API's default page size (20);"
        f" anytune asks for {page} events per page and stops at the last event it has seen."
    )
    fewer_bytes = [
        (shape["polls"], shape["bytes_received_ratio"]["median"])
        for shape in data["shapes"]
        if shape["bytes_received_ratio"]["median"] < 1
    ]
    if fewer_bytes:
        polls, ratio = fewer_bytes[0]
        result.notes.append(
            f"On the {polls}-poll job anytune receives more bytes than the naive loop"
            f" ({1 / ratio:.2f}×): every poll asks for a page of {page} events and so receives"
            f" the job's history up to {page} events again, although it needs only the new ones."
            " A first page sized to what is expected (e.g. 2× the new events of the last poll,"
            " at least 10), followed by older pages only when the cursor is not in it, would"
            " keep one request per poll and cut the bytes."
        )
    if ratios:
        result.targets.append(
            Target(
                "requests to follow a job, naive ÷ anytune",
                "> 1 (no numeric target)",
                ", ".join(f"{r:.3g}× at {polls} polls" for polls, r in ratios),
                None if smoke else min(r for _, r in ratios) > 1,
            )
        )
    result.data = data
    return result


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        raise SystemExit(common.standalone(run))
