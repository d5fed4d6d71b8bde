"""``FakeTogetherServer``: a real HTTP server on 127.0.0.1 speaking the Together routes the
``together`` SDK calls (files with its upload protocol, fine-tunes, events, checkpoints,
cancel, download), with scripted faults and a log of every request.

>>> with FakeTogetherServer() as server:                                  # doctest: +SKIP
...     server.fail_next("POST /v1/fine-tunes", drop="after")  # commit, then hang up
...     provider = TogetherProvider(api_key=TEST_API_KEY, base_url=server.url)

Routes are named by their template, e.g. ``"GET /v1/fine-tunes/{id}"``. Each GET of a job
advances it one step of its lifecycle.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Literal

from anytune_together.testing._api import FakeAPI
from anytune_together.testing._http import Fault, Handler, HTTPServer, RecordedRequest

TEST_API_KEY = "tgp_v1_test-SECRET-0123456789abcdef"
"""Obviously fake, shaped like a real key, so tests can check it never appears in output."""


class FakeTogetherServer:
    def __init__(self, *, api_key: str | None = TEST_API_KEY, port: int = 0, total_steps: int = 4):
        self.api_key = api_key
        self.api = FakeAPI(total_steps=total_steps)
        self._port = port
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: HTTPServer | None = None

    def start(self) -> FakeTogetherServer:
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

    def __enter__(self) -> FakeTogetherServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for the SDK (TOGETHER_BASE_URL): ``http://127.0.0.1:PORT``."""
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
        "POST /v1/fine-tunes" or a concrete path). ``drop="after"`` handles the request (a
        create commits) and hangs up: the lost-response case."""
        if status is None and drop is None and not delay:
            raise ValueError("a fault needs a status, a drop or a delay")
        fault = Fault(route, status, message, retry_after, drop, delay, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_jobs_with(self, message: str | None) -> None:
        """Running jobs fail from now on with this ``job_error`` event (None: stop)."""
        with self.api.lock:
            self.api.fail_with = message

    def advance(self, job_id: str, ticks: int = 1) -> None:
        with self.api.lock:
            for _ in range(ticks):
                self.api.tick(self.api.jobs[job_id])

    # -- inspection ----------------------------------------------------------------------
    def jobs(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [copy.deepcopy(j) for j in self.api.jobs.values()]

    def files(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [dict(f) for f in self.api.files.values()]

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
