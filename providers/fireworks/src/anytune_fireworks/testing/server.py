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
from typing import Any, ClassVar

from anytune.testing.http import FakeHTTPServer
from anytune_fireworks.testing._api import FakeAPI

TEST_API_KEY = "fw_test-SECRET-0123456789abcdef"
TEST_ACCOUNT = "acct-secret-4242"
"""Both must never appear in anything anytune prints."""


class FakeFireworksServer(FakeHTTPServer):
    open_prefix: ClassVar[str] = "/_signed/"
    """Signed URLs the API hands out are served without the API key."""
    api: FakeAPI

    def __init__(
        self,
        *,
        api_key: str | None = TEST_API_KEY,
        account: str = TEST_ACCOUNT,
        port: int = 0,
        percent_per_poll: int = 25,
    ):
        super().__init__(
            api=FakeAPI(account=account, percent_per_poll=percent_per_poll),
            api_key=api_key,
            port=port,
        )

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
