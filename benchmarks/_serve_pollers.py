"""The pollers of benchmark 5 (``serve_polling.py``): one process, at nice 19.

    python benchmarks/_serve_pollers.py PORT JOB_ID CLIENTS INTERVAL OUT.json

CLIENTS keep-alive connections (one per client and phase) to ``anytune serve`` on
127.0.0.1:PORT. While on, each sends ``GET /v1/fine_tuning/jobs/JOB_ID`` and
``GET .../events`` every INTERVAL seconds. SIGUSR1
turns them on, SIGUSR2 off (requests in flight finish), SIGTERM ends the process, which then
writes OUT.json: every request's start (wall clock) and latency, the errors, this process's
CPU seconds. OUT.ready appears once the signals are handled.

The pollers stand in for remote machines, so they cost as little as a load generator can:
requests written once and reused, answers read by their length (the JSON is not parsed),
uvloop when installed, and nice 19 so that they never run ahead of the server or the
training they measure.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any


class Polling:
    def __init__(self, port: int, job_id: str, clients: int, interval: float) -> None:
        self.port = port
        self.clients = clients
        self.interval = interval
        self.on = asyncio.Event()
        self.stopped = False
        self.started: list[float] = []
        self.latencies: list[float] = []
        self.errors = 0
        self.requests = [
            (
                f"GET /v1/fine_tuning/jobs/{job_id}{tail} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Authorization: Bearer unused\r\nAccept: application/json\r\n\r\n"
            ).encode()
            for tail in ("", "/events")
        ]

    def stop(self) -> None:
        self.stopped = True
        self.on.set()  # wakes the paused clients, which then see stopped

    async def client(self, offset: float) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopped:
            await self.on.wait()
            if self.stopped:
                return
            # One connection per phase: the server closes keep-alive connections left idle
            # (uvicorn: after 5 s), as it would a remote client's between its bursts.
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            due = loop.time() + offset  # turned on: spread over one interval again
            while self.on.is_set() and not self.stopped:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not self.on.is_set() or self.stopped:
                    break
                for request in self.requests:
                    try:
                        await self._get(reader, writer, request)
                    except (asyncio.IncompleteReadError, ConnectionError):
                        writer.close()  # closed by the server: as an HTTP client, reconnect
                        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                        await self._get(reader, writer, request)
                due += self.interval  # a fixed schedule: late answers do not lower the load
            writer.close()

    async def _get(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        began = time.perf_counter()
        started = time.time()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        at = head.lower().find(b"content-length:")
        length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
        await reader.readexactly(length)
        self.latencies.append((time.perf_counter() - began) * 1000)
        self.started.append(started)
        self.errors += not head.startswith(b"HTTP/1.1 200 ")


def _main(port: int, job_id: str, clients: int, interval: float, out: Path) -> None:
    os.nice(19)  # they stand in for remote machines: never ahead of the server or training
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> dict[str, Any]:
        polling = Polling(port, job_id, clients, interval)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, polling.on.set)
        loop.add_signal_handler(signal.SIGUSR2, polling.on.clear)
        loop.add_signal_handler(signal.SIGTERM, polling.stop)
        before = resource.getrusage(resource.RUSAGE_SELF)
        tasks = [
            asyncio.create_task(polling.client(i * interval / clients)) for i in range(clients)
        ]
        out.with_suffix(".ready").touch()
        await asyncio.gather(*tasks)
        after = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "started": polling.started,
            "latencies_ms": polling.latencies,
            "errors": polling.errors,
            "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        }

    out.write_text(json.dumps(asyncio.run(main())))


if __name__ == "__main__":
    port, job_id, clients, interval, out = sys.argv[1:6]
    _main(int(port), job_id, int(clients), float(interval), Path(out))
