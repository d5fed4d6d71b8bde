"""A real HTTP server on 127.0.0.1 in front of an in-memory provider, and the provider that
talks to it, so tests can take the "provider" down and bring it back on the same port.

Only job reads go over HTTP (``get_job``, ``list_events``): what the wait loop calls. The
server keeps its state while it is down, like a real service restarting.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from anytune import registry
from anytune.errors import NotFoundError, ProviderConnectionError, ServiceUnavailableError
from anytune.testing import InMemoryProvider
from anytune.testing.memory import MemoryStore
from anytune.types import Event, Job

NAME = "http-memory"
URL_ENV = "ANYTUNE_TEST_HTTP_URL"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        backend = self.server.backend
        try:
            if len(parts) == 2 and parts[0] == "jobs":
                body: Any = backend.get_job(parts[1]).to_dict()
            elif len(parts) == 3 and parts[0] == "jobs" and parts[2] == "events":
                after = parse_qs(url.query).get("after", [None])[0]
                body = [e.to_dict() for e in backend.list_events(parts[1], after=after)]
            else:
                raise NotFoundError(self.path)
        except NotFoundError as exc:
            self._send(404, {"error": exc.message})
            return
        self._send(200, body)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    backend: InMemoryProvider


class ProviderServer:
    """``start()`` / ``stop()`` any number of times; the port and the jobs stay."""

    def __init__(self) -> None:
        self.backend = InMemoryProvider(store=MemoryStore())
        self.port = 0
        self._httpd: _Server | None = None

    def start(self) -> ProviderServer:
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.backend = self.backend
        self.port = httpd.server_address[1]
        threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self._httpd = httpd
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class HttpMemoryProvider(InMemoryProvider):
    """Reads jobs from a ``ProviderServer`` over HTTP; a refused connection is transient."""

    name: ClassVar[str] = NAME
    connection_options: ClassVar[tuple[str, ...]] = ("base_url",)

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | str | None = None,
        max_retries: int | str | None = None,
    ):
        super().__init__(store=MemoryStore())
        self.settings = {"timeout": timeout, "max_retries": max_retries}
        # Like OPENAI_BASE_URL: the connection may come from the environment.
        self.base_url = (base_url or os.environ.get(URL_ENV) or "http://127.0.0.1:9").rstrip("/")
        self._http = httpx.Client(timeout=float(timeout) if timeout is not None else 30.0)

    def _get(self, path: str, **params: str) -> Any:
        try:
            response = self._http.get(self.base_url + path, params=params)
        except httpx.TransportError as exc:
            raise ProviderConnectionError(
                f"cannot reach {self.base_url}: {exc}", provider=NAME
            ) from None
        if response.status_code == 404:
            raise NotFoundError(f"no such job ({path})", provider=NAME)
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"server error {response.status_code}", provider=NAME)
        return response.json()

    def get_job(self, job_id: str) -> Job:
        return Job.from_dict(self._get(f"/jobs/{job_id}"))

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        params = {"after": after} if after else {}
        return [Event.from_dict(e) for e in self._get(f"/jobs/{job_id}/events", **params)]

    def close(self) -> None:
        self._http.close()


def register() -> None:
    registry.register(NAME, HttpMemoryProvider)


def unregister() -> None:
    registry.unregister(NAME)
