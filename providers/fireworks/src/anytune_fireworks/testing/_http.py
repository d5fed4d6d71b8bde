"""The fake server's HTTP layer: a thread per connection, HTTP/1.1 keep-alive, scripted faults
(status with Retry-After, dropped connection before or after handling, delay) and a request
log without credentials. (The same as ``anytune_together.testing._http``: the core has no
shared fake-server toolkit yet.)"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from anytune_fireworks.testing.server import FakeFireworksServer

Answer = tuple[int, Any, dict[str, str]]
"""(status, JSON payload or bytes, extra headers)."""


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


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeFireworksServer


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
        if not split.path.startswith("/_signed/") and not fake._authorized(self.headers):
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
