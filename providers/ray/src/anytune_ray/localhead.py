"""A Ray head on 127.0.0.1 for tests, benchmarks and trying the provider on one machine:
``ray start --head --block`` in its own process group, stopped by that group's id (never by
process name, so another Ray on the machine is left alone)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalHead:
    """``with LocalHead() as head: head.address`` (the dashboard's http address)."""

    def __init__(self, *, num_cpus: int = 2, object_store_bytes: int = 100 * 1024 * 1024) -> None:
        self.num_cpus = num_cpus
        self.object_store_bytes = object_store_bytes
        self.address = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._temp = ""

    def start(self, timeout: float = 120.0) -> str:
        ray_cli = Path(sys.executable).with_name("ray")
        if not ray_cli.exists():
            raise RuntimeError(f"the ray command is not next to {sys.executable}")
        dashboard = free_port()
        # Ray's socket paths must stay short (108 bytes): a short temp dir.
        self._temp = tempfile.mkdtemp(prefix="atray-", dir="/tmp")
        env = {**os.environ, "PATH": f"{ray_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        log = Path(self._temp, "ray-start.log")
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [
                    str(ray_cli), "start", "--head", "--block",
                    "--num-cpus", str(self.num_cpus),
                    "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                    "--dashboard-port", str(dashboard), "--port", str(free_port()),
                    "--node-ip-address", "127.0.0.1",
                    "--object-store-memory", str(self.object_store_bytes),
                    "--temp-dir", self._temp, "--disable-usage-stats",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.address = f"http://127.0.0.1:{dashboard}"
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                text = log.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"ray start exited:\n{text[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.address}/api/jobs/", timeout=2).status_code == 200:
                    return self.address
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Ray dashboard did not come up in {timeout:g} s")
            time.sleep(0.5)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            for signum, patience in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)
                try:
                    process.wait(timeout=patience)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # Children of --block may outlive it for a moment: the group id still names them.
            time.sleep(1)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = ""

    def __enter__(self) -> LocalHead:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
