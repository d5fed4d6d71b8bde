"""A Ray head on 127.0.0.1 for tests, benchmarks and trying the provider on one machine:
``ray start --head --block`` in its own process group, stopped by that group's id (never by
process name, so another Ray on the machine is left alone). ``LocalNode`` adds a second node
(another raylet on the same host) for multi-node jobs."""

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


def ray_command() -> tuple[str, dict[str, str]]:
    """The ``ray`` command next to this Python, and the environment to run it in."""
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        raise RuntimeError(f"the ray command is not next to {sys.executable}")
    env = {**os.environ, "PATH": f"{ray_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return str(ray_cli), env


def free_ports(*names: str) -> list[str]:
    """``--NAME=PORT`` for each of Ray's fixed default ports to move to a free one: two Ray
    nodes on one host (two tests' heads, or a head and a ``LocalNode``) must share none (the
    dashboard agent's default, 52365, would be both's)."""
    names += (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
        "metrics-export-port",
    )  # fmt: skip
    return [f"--{name}={free_port()}" for name in names]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the process group ``process`` leads."""
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


class LocalHead:
    """``with LocalHead() as head: head.address`` (the dashboard's http address)."""

    def __init__(self, *, num_cpus: int = 2, object_store_bytes: int = 100 * 1024 * 1024) -> None:
        self.num_cpus = num_cpus
        self.object_store_bytes = object_store_bytes
        self.address = ""
        self.gcs_address = ""
        """``127.0.0.1:PORT``: what ``ray start --address`` joins."""
        self._process: subprocess.Popen[bytes] | None = None
        self._temp = ""

    @property
    def temp_dir(self) -> str:
        return self._temp

    def start(self, timeout: float = 120.0) -> str:
        ray_cli, env = ray_command()
        dashboard, gcs = free_port(), free_port()
        # Ray's socket paths must stay short (108 bytes): a short temp dir.
        self._temp = tempfile.mkdtemp(prefix="atray-", dir="/tmp")
        log = Path(self._temp, "ray-start.log")
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [
                    ray_cli, "start", "--head", "--block",
                    "--num-cpus", str(self.num_cpus),
                    "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                    "--dashboard-port", str(dashboard), "--port", str(gcs),
                    "--node-ip-address", "127.0.0.1",
                    "--object-store-memory", str(self.object_store_bytes),
                    "--temp-dir", self._temp, "--disable-usage-stats", *free_ports(),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.address = f"http://127.0.0.1:{dashboard}"
        self.gcs_address = f"127.0.0.1:{gcs}"
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
            stop_group(process)
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


class LocalNode:
    """Another node (a second raylet on this host) joining a started ``LocalHead``:
    ``ray start --address HEAD --block`` in its own process group, stopped by its id.

    Two raylets on one host must share no port (``free_ports``); both use the head's temp
    dir, as Ray's own ``cluster_utils`` does (one session directory per host)."""

    def __init__(
        self, head: LocalHead, *, num_cpus: int = 1, object_store_bytes: int = 80 * 1024 * 1024
    ) -> None:
        self.head = head
        self.num_cpus = num_cpus
        self.object_store_bytes = object_store_bytes
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        if not self.head.gcs_address:
            raise RuntimeError("start the LocalHead first")
        ray_cli, env = ray_command()
        before = max(1, alive_nodes(self.head.address))  # the head may not be listed yet
        log = Path(tempfile.mkstemp(prefix="ray-node-", suffix=".log", dir=self.head.temp_dir)[1])
        # Worker ports 0: each worker binds one the OS picks (as cluster_utils does), not one
        # from the range the head's workers also take theirs from.
        ports = free_ports("node-manager-port", "object-manager-port")
        ports += ["--min-worker-port=0", "--max-worker-port=0"]
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [
                    ray_cli, "start", "--block", "--address", self.head.gcs_address,
                    "--num-cpus", str(self.num_cpus), "--node-ip-address", "127.0.0.1",
                    "--object-store-memory", str(self.object_store_bytes),
                    "--temp-dir", self.head.temp_dir, "--disable-usage-stats", *ports,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while alive_nodes(self.head.address) <= before:
            if self._process.poll() is not None:
                text = log.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"ray start --address exited:\n{text[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the second Ray node did not join in {timeout:g} s")
            time.sleep(0.5)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process)

    def __enter__(self) -> LocalNode:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def alive_nodes(address: str) -> int:
    """How many nodes the cluster's state API lists as alive (0 when it does not answer)."""
    try:
        answer = httpx.get(f"{address}/api/v0/nodes", params={"limit": 1000}, timeout=10).json()
        nodes = answer["data"]["result"]["result"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return 0
    return sum(1 for node in nodes if node.get("state") == "ALIVE")
