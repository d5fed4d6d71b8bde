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
from typing import Any, ClassVar

from anytune.testing.http import FakeHTTPServer
from anytune_together.testing._api import FakeAPI

TEST_API_KEY = "tgp_v1_test-SECRET-0123456789abcdef"
"""Obviously fake, shaped like a real key, so tests can check it never appears in output."""


class FakeTogetherServer(FakeHTTPServer):
    open_prefix: ClassVar[str] = "/_upload/"
    """Signed URLs the API hands out are served without the API key."""
    api: FakeAPI

    def __init__(self, *, api_key: str | None = TEST_API_KEY, port: int = 0, total_steps: int = 4):
        super().__init__(api=FakeAPI(total_steps=total_steps), api_key=api_key, port=port)

    def fail_jobs_with(self, message: str | None) -> None:
        """Running jobs fail from now on with this ``job_error`` event (None: stop)."""
        with self.api.lock:
            self.api.fail_with = message

    def advance(self, job_id: str, ticks: int = 1) -> None:
        with self.api.lock:
            for _ in range(ticks):
                self.api.tick(self.api.jobs[job_id])

    def jobs(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [copy.deepcopy(j) for j in self.api.jobs.values()]

    def files(self) -> list[dict[str, Any]]:
        with self.api.lock:
            return [dict(f) for f in self.api.files.values()]
