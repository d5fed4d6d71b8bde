"""The fake server's HTTP layer: one handler thread per connection, HTTP/1.1 keep-alive, route
matching, authentication, scripted faults and the request log."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from anytune_openai.testing._api import TRAINING_NOT_AVAILABLE, Request, Response, error
from anytune_openai.testing._multipart import parse_multipart, read_body
from anytune_openai.testing._wire import SSE

if TYPE_CHECKING:
    from anytune_openai.testing.server import FakeOpenAIServer

_PREFIXES = ("/openai/v1/", "/openai/", "/v1/")

_MESSAGES = {
    "training_not_available": TRAINING_NOT_AVAILABLE,
    "insufficient_quota": "You exceeded your current quota, please check your plan and billing details.",
}


@dataclass
class Fault:
    """What to do instead of (or around) the normal answer, for the next ``times`` matches."""

    route: str
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    drop: Literal["before", "after"] | None = None
    """"before": close the connection without handling the request; "after": handle it
    (commit) and then close without answering -- the lost-response case."""
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's timeout: a timeout)."""
    times: int = 1
    commit: bool = False
    """Handle the request first, then answer with the fault (a 5xx or a timeout after the
    work was done). ``drop="after"`` implies it."""
    until: str | None = None
    """Hold the request until another request to this route (e.g. "POST
    /v1/fine_tuning/jobs") has been handled, then handle it: a deterministic late commit."""


@dataclass
class RecordedRequest:
    """One request as the server saw it (credentials are never recorded)."""

    method: str
    path: str
    """As sent, e.g. ``/openai/v1/files`` from an Azure client (without the query)."""
    route: str
    """The ``/v1`` route template, e.g. ``GET /v1/fine_tuning/jobs/{id}``."""
    query: dict[str, list[str]]
    at: float
    """``time.monotonic()`` when the request arrived."""
    headers: dict[str, str] = field(default_factory=dict)
    auth: str | None = None
    """How the key came: "bearer" (Authorization header), "api-key" (Azure) or None."""
    status: int | None = None
    """The status answered; None when the connection was dropped."""
    fault: str | None = None
    body: Any = None
    """With ``record_bodies``: the JSON body, or the multipart field names as a list."""
    response: Any = None
    """With ``record_bodies``: the JSON answered (None when nothing was answered)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _recorded_body(self, body: bytes) -> Any:
        content_type = self.headers.get("Content-Type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                return sorted(parse_multipart(body, content_type))
            return json.loads(body) if body else None
        except ValueError:
            return None

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        current = getattr(self, "_current", None)
        streamed = payload.get(SSE) if isinstance(payload, dict) else None
        if current is not None and self.server.fake.record_bodies:
            current.response = copy.deepcopy(payload if streamed is None else streamed)
        if streamed is None:
            body, kind = json.dumps(payload).encode(), "application/json"
        else:
            lines = [f"data: {json.dumps(event)}\n\n" for event in streamed]
            body, kind = "".join([*lines, "data: [DONE]\n\n"]).encode(), "text/event-stream"
        # The client may have given up already (a scripted delay past its timeout).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_{int(time.monotonic() * 1e6)}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        fake = self.server.fake
        body = read_body(self.rfile, self.headers)  # type: ignore[arg-type]
        split = urlsplit(self.path)
        path = split.path
        raw_path = split.path
        for prefix in _PREFIXES:
            if path.startswith(prefix):
                path = "/v1/" + path[len(prefix) :]
                break
        query = parse_qs(split.query, keep_blank_values=True)
        matched = fake.api.match(self.command, path)
        route = f"{self.command} {matched[0] if matched else path}"
        hidden = {"authorization", "api-key", "cookie"}
        record = RecordedRequest(
            method=self.command,
            path=raw_path,
            route=route,
            query=query,
            at=time.monotonic(),
            headers={k.lower(): v for k, v in self.headers.items() if k.lower() not in hidden},
            auth="bearer"
            if (self.headers.get("Authorization") or "").lower().startswith("bearer ")
            else "api-key"
            if self.headers.get("api-key")
            else None,
        )
        fake._record(record)
        self._current = record
        if fake.record_bodies:
            record.body = self._recorded_body(body)

        if not fake._authorized(self.headers):
            status, payload = fake._unauthorized(self.headers)
            record.status = status
            self._send(status, payload)
            return
        fault = fake._take_fault(route, f"{self.command} {path}")
        if fault is None:
            status, payload = self._handle(matched, path, query, body)
            record.status = status
            self._send(status, payload)
            return
        record.fault = fault.drop or (str(fault.status) if fault.status else "delay")
        if fault.until is not None:
            record.fault = "late"
            fake._wait_handled(fault.until, fake._handled_count(fault.until))
        if fault.commit or fault.drop == "after":
            status, payload = self._handle(matched, path, query, body)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop is not None:
            self._drop()
            return
        if fault.status is not None:
            status, payload, headers = fault.status, self._fault_body(fault), {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
            record.status = status
            self._send(status, payload, headers)
            return
        if not fault.commit:
            status, payload = self._handle(matched, path, query, body)
        record.status = status
        self._send(status, payload)

    @staticmethod
    def _fault_body(fault: Fault) -> dict[str, Any]:
        status = fault.status or 500
        message = fault.message or _MESSAGES.get(fault.code or "", "")
        if not message:
            message = (
                "The server had an error while processing your request. Sorry about that!"
                if status >= 500
                else "Rate limit reached for requests"
                if status == 429
                else "Request refused by a scripted fault"
            )
        return error(status, message, code=fault.code)[1]

    def _handle(
        self, matched: Any, path: str, query: dict[str, list[str]], body: bytes
    ) -> Response:
        if matched is None:
            return error(404, f"Invalid URL ({self.command} {path})")
        _, handler, params = matched
        request = Request(method=self.command, params=params, query=query)
        content_type = self.headers.get("Content-Type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                request.form = parse_multipart(body, content_type)
            elif body:
                request.json = json.loads(body)
        except ValueError as exc:
            return error(400, f"We could not parse the body of your request: {exc}")
        fake = self.server.fake
        try:
            with fake.api.lock:
                status, payload = handler(request)
                answer = status, copy.deepcopy(payload)
            fake._note_handled(f"{self.command} {matched[0]}")
            return answer
        except Exception:
            traceback.print_exc()
            return error(500, "fake server bug (see its stderr)")


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAIServer
