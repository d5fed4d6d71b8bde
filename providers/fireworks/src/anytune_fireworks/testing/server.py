"""``FakeFireworksServer``: a real HTTP server on 127.0.0.1 speaking the Fireworks routes the
``fireworks-ai`` SDK calls for datasets, supervised fine-tuning and DPO jobs and model
downloads, with scripted faults and a log of every request.

>>> with FakeFireworksServer() as server:                                 # doctest: +SKIP
...     server.fail_next("POST /v1/accounts/{account}/supervisedFineTuningJobs", drop="after")
...     provider = FireworksProvider(api_key=TEST_API_KEY, account_id=TEST_ACCOUNT,
...                                  base_url=server.url)

Routes are named by their template. Each GET of a job advances it one step (while running:
``percent_per_poll`` percent).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Literal

from anytune_fireworks.testing._api import FakeAPI
from anytune_fireworks.testing._http import Fault, Handler, HTTPServer, RecordedRequest

TEST_API_KEY = "fw_test-SECRET-0123456789abcdef"
TEST_ACCOUNT = "acct-secret-4242"
"""Both must never appear in anything anytune prints."""


class FakeFireworksServer:
    def __init__(
        self,
        *,
        api_key: str | None = TEST_API_KEY,
        account: str = TEST_ACCOUNT,
        port: int = 0,
        percent_per_poll: int = 25,
    ):
        self.api_key = api_key
        self.api = FakeAPI(account=account, percent_per_poll=percent_per_poll)
        self._port = port
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: HTTPServer | None = None

    def start(self) -> FakeFireworksServer:
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

    def __enter__(self) -> FakeFireworksServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for the SDK (FIREWORKS_BASE_URL)."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

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
        """Script a fault for the next ``times`` requests to ``route``, e.g.
        "POST /v1/accounts/{account}/supervisedFineTuningJobs" (``drop="after"``: handled --
        the job created -- then the connection drops: the lost-answer case)."""
        if status is None and drop is None and not delay:
            raise ValueError("a fault needs a status, a drop or a delay")
        fault = Fault(route, status, message, retry_after, drop, delay, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_jobs_with(self, message: str | None) -> None:
        with self.api.lock:
            self.api.fail_with = message

    def advance(self, job_id: str, ticks: int = 1) -> None:
        with self.api.lock:
            for _ in range(ticks):
                self.api.tick(self.api.jobs[job_id])

    def jobs(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [copy.deepcopy(j) for j in self.api.jobs.values()]

    def datasets(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [dict(d) for d in self.api.datasets.values()]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, route: str | None = None) -> int:
        return sum(1 for r in self.requests if route is None or r.route == route)

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
        return self.api_key is None or headers.get("Authorization") == f"Bearer {self.api_key}"
