"""``FakeOpenAIServer``: a real HTTP server on 127.0.0.1 that speaks the OpenAI fine-tuning
routes the ``openai`` SDK calls, with scripted faults and a log of every request.

>>> with FakeOpenAIServer(api_key="sk-test") as server:                 # doctest: +SKIP
...     server.fail_next("POST /v1/fine_tuning/jobs", drop="after")   # commit, then hang up
...     provider = OpenAIProvider(api_key="sk-test", base_url=server.url)
...     job = provider.create_job(spec)
...     assert len(server.jobs()) == 1

Paths are accepted under ``/v1`` (OpenAI), ``/openai/v1`` (Azure v1 API) and ``/openai``
(Azure's dated API); routes are always named by their ``/v1`` template, e.g.
``"GET /v1/fine_tuning/jobs/{id}/events"``. The key may come as ``Authorization: Bearer`` or
as Azure's ``api-key`` header.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Literal

from anytune_openai.testing._api import FakeAPI, Response, error
from anytune_openai.testing._http import Fault, Handler, HTTPServer, RecordedRequest

TEST_API_KEY = "sk-test-SECRET123456"
"""The fake server's default key: obviously fake, shaped like a real one, so tests can check
that it never appears in any output."""


class FakeOpenAIServer:
    """A local OpenAI fine-tuning API; see the module docstring.

    - ``api_key``: the only key accepted (None: any). ``echo_key_in_errors`` makes the 401
      body repeat the full key, as a hostile server might, to test that clients scrub it.
    - jobs advance per poll (each ``GET`` of a job: ``ticks_per_poll`` steps) or by time
      (``advance="time"``, one step per ``tick_seconds`` elapsed); ``total_steps`` training
      steps.
    - ``record_bodies``: also keep each request's JSON body (or multipart field names) and
      each JSON answer in ``requests``, e.g. to validate them against OpenAI's OpenAPI
      document. Off by default, to keep a long-running server's memory flat.
    """

    def __init__(
        self,
        *,
        api_key: str | None = TEST_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        total_steps: int = 6,
        advance: str = "poll",
        ticks_per_poll: int = 1,
        tick_seconds: float = 0.2,
        echo_key_in_errors: bool = False,
        record_bodies: bool = False,
    ):
        self.api_key = api_key
        self.echo_key_in_errors = echo_key_in_errors
        self.record_bodies = record_bodies
        self.api = FakeAPI(
            total_steps=total_steps,
            advance=advance,
            ticks_per_poll=ticks_per_poll,
            tick_seconds=tick_seconds,
        )
        self._host, self._port = host, port
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._handled = threading.Condition(self._lock)
        self._handled_counts: dict[str, int] = {}
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        self._httpd = HTTPServer((self._host, self._port), Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (an Azure "endpoint")."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The base URL to give the SDK (OPENAI_BASE_URL): ``http://127.0.0.1:PORT/v1``."""
        return self.root_url + "/v1"

    # -- scripting -----------------------------------------------------------------------
    def fail_next(
        self,
        route: str,
        *,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        drop: Literal["before", "after"] | None = None,
        delay: float = 0.0,
        times: int = 1,
        commit: bool = False,
        until: str | None = None,
    ) -> Fault:
        """Script a fault for the next ``times`` requests to ``route`` ("POST /v1/files",
        "GET /v1/fine_tuning/jobs/{id}", or a concrete path). See ``Fault``.

        A late commit (the server commits a create after the client gave up on it):
        ``fail_next(route, delay=4)`` with a client timeout under 4 s. The request is
        handled -- the job created -- only when the delay is over, and the answer goes to a
        client that is no longer listening. (``commit=True`` commits first, then delays.)
        ``until="POST /v1/fine_tuning/jobs"`` instead holds the request until another request
        to that route has been handled, then handles it: a late commit that lands right after
        the client's re-send, however slow the machine."""
        if status is None and drop is None and not delay and until is None:
            raise ValueError("a fault needs a status, a drop, a delay or an until")
        fault = Fault(
            route,
            status,
            code,
            message,
            retry_after,
            retry_after_ms,
            drop,
            delay,
            times,
            commit,
            until,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    @property
    def training_available(self) -> bool:
        """False: every job create is refused with 403 ``training_not_available``."""
        return self.api.training_available

    @training_available.setter
    def training_available(self, value: bool) -> None:
        self.api.training_available = value

    def fail_jobs_with(self, code: str | None, message: str = "") -> None:
        """Jobs validated from now on fail with this error (None: stop doing that)."""
        with self.api.lock:
            self.api.runner.fail_with = (code, message) if code else None

    def set_status(self, job_id: str, status: str) -> None:
        """Force a job's status (e.g. one the SDK does not know)."""
        with self.api.lock:
            self.api.jobs[job_id].data["status"] = status

    def advance(self, job_id: str, ticks: int = 1) -> None:
        with self.api.lock:
            for _ in range(ticks):
                self.api.runner.tick(self.api.jobs[job_id])

    def repeat_pages(self, route: str, on: bool = True) -> None:
        """Make a list route ("GET /v1/fine_tuning/jobs/{id}/events", ...) answer like a
        broken server: ``after`` ignored, the first page again and again, ``has_more`` true."""
        with self.api.lock:
            if route not in {f"{m} {t}" for m, _, t, _ in self.api.routes}:
                raise ValueError(f"no such route: {route}")
            (self.api.repeating.add if on else self.api.repeating.discard)(route)

    def delete_file(self, file_id: str) -> None:
        with self.api.lock:
            self.api.files.pop(file_id, None)
            self.api.contents.pop(file_id, None)

    # -- inspection ----------------------------------------------------------------------
    def jobs(self) -> list[dict[str, Any]]:
        """Every job created, oldest first (copies of the API objects)."""
        with self.api.lock:
            return [copy.deepcopy(j.data) for j in self.api.jobs.values()]

    def files(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [dict(f) for f in self.api.files.values()]

    def file_content(self, file_id: str) -> bytes:
        with self.api.lock:
            return self.api.contents[file_id]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def count(self, route: str | None = None) -> int:
        """Requests received, for one route (e.g. "GET /v1/fine_tuning/jobs/{id}") or all."""
        return sum(1 for r in self.requests if route is None or r.route == route)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- used by the handler -------------------------------------------------------------
    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _note_handled(self, route: str) -> None:
        with self._handled:
            self._handled_counts[route] = self._handled_counts.get(route, 0) + 1
            self._handled.notify_all()

    def _handled_count(self, route: str) -> int:
        with self._lock:
            return self._handled_counts.get(route, 0)

    def _wait_handled(self, route: str, more_than: int, timeout: float = 120.0) -> None:
        with self._handled:
            self._handled.wait_for(
                lambda: self._handled_counts.get(route, 0) > more_than, timeout=timeout
            )

    def _take_fault(self, route: str, concrete: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route in (route, concrete):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _presented_key(self, headers: Any) -> str | None:
        auth = headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return str(auth[7:].strip())
        key = headers.get("api-key")
        return str(key) if key else None

    def _authorized(self, headers: Any) -> bool:
        return self.api_key is None or self._presented_key(headers) == self.api_key

    def _unauthorized(self, headers: Any) -> Response:
        key = self._presented_key(headers)
        if not key:
            return error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        shown = key if self.echo_key_in_errors else f"{key[:3]}{'*' * 8}{key[-4:]}"
        return error(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
