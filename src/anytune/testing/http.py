"""A minimal fake vendor API server for provider tests: a real HTTP server on 127.0.0.1 (a
thread per connection, HTTP/1.1 keep-alive) answering JSON, with scripted faults (a status
with Retry-After, a dropped connection before or after handling, a delay) and a request log
without credentials. The together and fireworks providers' fake servers are built on it.

A provider's fake subclasses ``FakeHTTPServer`` and gives it an ``api`` (a ``VendorAPI``) with
``route_of(method, path) -> template | None``, ``handle(method, path, query, body, headers)
-> Answer``, ``error(status, message, code) -> Answer`` and a ``root`` attribute (set to the
server's URL on start, for URLs the API hands out). ``open_prefix`` names paths served
without the API key (e.g. signed upload URLs).

>>> class FakeVendor(FakeHTTPServer):                                     # doctest: +SKIP
...     def __init__(self) -> None:
...         super().__init__(api=VendorAPI(), api_key="test-key")
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]
"""(status, JSON payload or bytes, extra headers)."""


class VendorAPI(Protocol):
    """What ``FakeHTTPServer`` needs of a vendor's fake API."""

    root: str

    def route_of(self, method: str, path: str) -> str | None: ...

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Answer: ...

    def error(self, status: int, message: str, code: str = "") -> Answer: ...


@dataclass
class Fault:
    route: str
    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    drop: Literal["before", "after"] | None = None
    """"before": hang up without handling; "after": handle (commit), then hang up."""
    delay: float = 0.0
    times: int = 1


@dataclass
class RecordedRequest:
    method: str
    path: str
    route: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    fault: str | None = None
    body: Any = None
    response: Any = None
    """The JSON answered (None for bytes, a redirect or a dropped connection)."""


def parse_form(body: bytes, content_type: str) -> dict[str, bytes]:
    """A multipart/form-data body's fields (names -> raw values)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True)
            fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


_S = TypeVar("_S", bound="FakeHTTPServer")


class FakeHTTPServer:
    """The scripting and inspection every fake vendor server shares (see the module)."""

    open_prefix: ClassVar[str] = ""
    """Paths served without the API key (e.g. "/_upload/"); empty: none."""

    api: VendorAPI

    def __init__(self, *, api: VendorAPI, api_key: str | None, port: int = 0):
        self.api_key = api_key
        self.api = api
        self._port = port
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: HTTPServer | None = None

    def start(self: _S) -> _S:
        self._httpd = HTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.fake = self
        self.api.root = self.url
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for the SDK: ``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting -----------------------------------------------------------------------
    def fail_next(
        self,
        route: str,
        *,
        status: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        drop: Literal["before", "after"] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> Fault:
        """Script a fault for the next ``times`` requests to ``route`` (a template such as
        "POST /v1/fine-tunes", or a concrete path). ``drop="after"`` handles the request (a
        create commits) and hangs up: the lost-response case."""
        if status is None and drop is None and not delay:
            raise ValueError("a fault needs a status, a drop or a delay")
        fault = Fault(route, status, message, retry_after, drop, delay, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    # -- inspection ----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, route: str | None = None) -> int:
        return sum(1 for r in self.requests if route is None or r.route == route)

    # -- used by the handler -------------------------------------------------------------
    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _take_fault(self, route: str, concrete: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route in (route, concrete):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _authorized(self, headers: Any) -> bool:
        auth = headers.get("Authorization") or ""
        return self.api_key is None or auth == f"Bearer {self.api_key}"


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, answer: Answer, record: RecordedRequest | None = None) -> None:
        status, payload, headers = answer
        if record is not None and not isinstance(payload, bytes):
            record.response = payload
        if isinstance(payload, bytes):
            body, kind = payload, "application/octet-stream"
        else:
            body, kind = json.dumps(payload).encode(), "application/json"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        template = fake.api.route_of(self.command, split.path)
        route = f"{self.command} {template or split.path}"
        hidden = {"authorization", "cookie"}
        record = RecordedRequest(
            method=self.command,
            path=split.path,
            route=route,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items() if k.lower() not in hidden},
        )
        fake._record(record)
        public = bool(fake.open_prefix) and split.path.startswith(fake.open_prefix)
        if not public and not fake._authorized(self.headers):
            answer = fake.api.error(401, "Invalid API key provided", "invalid_api_key")
            record.status = answer[0]
            self._send(answer, record)
            return
        fault = fake._take_fault(route, f"{self.command} {split.path}")

        def handle() -> Answer:
            return fake.api.handle(self.command, split.path, query, body, self.headers)

        if fault is None:
            answer = handle()
            record.status = answer[0]
            self._send(answer, record)
            return
        record.fault = fault.drop or (str(fault.status) if fault.status else "delay")
        answer = handle() if fault.drop == "after" else (0, None, {})
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop is not None:
            self._drop()
            return
        if fault.status is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            status, payload, _ = fake.api.error(
                fault.status, fault.message or "scripted fault", "scripted"
            )
            record.status = status
            self._send((status, payload, headers), record)
            return
        answer = handle()
        record.status = answer[0]
        self._send(answer, record)


__all__ = [
    "Answer",
    "FakeHTTPServer",
    "Fault",
    "Handler",
    "RecordedRequest",
    "VendorAPI",
    "parse_form",
]
