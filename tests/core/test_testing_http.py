"""``anytune.testing.http``: the fake-server base the together and fireworks fakes share
(issue 15, item 5), exercised over real 127.0.0.1 HTTP with httpx."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest

from anytune.testing.http import Answer, FakeHTTPServer


class CounterAPI:
    root = ""

    def __init__(self) -> None:
        self.count = 0

    def route_of(self, method: str, path: str) -> str | None:
        return "/v1/items/{id}" if path.startswith("/v1/items/") else None

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Answer:
        if method == "POST":
            self.count += 1
            return 200, {"count": self.count}, {}
        return 200, {"path": path, "root": self.root}, {}

    def error(self, status: int, message: str, code: str = "") -> Answer:
        return status, {"error": {"message": message, "code": code}}, {}


class CounterServer(FakeHTTPServer):
    open_prefix: ClassVar[str] = "/open/"

    def __init__(self) -> None:
        super().__init__(api=CounterAPI(), api_key="key-123")


@pytest.fixture
def server() -> Any:
    with CounterServer() as fake:
        yield fake


def test_auth_open_paths_faults_and_the_log(server: CounterServer) -> None:
    auth = {"Authorization": "Bearer key-123"}
    with httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.get("/v1/items/1").status_code == 401
        assert http.get("/open/x").json()["root"] == server.url
        server.fail_next("GET /v1/items/{id}", status=429, retry_after=2)
        limited = http.get("/v1/items/7", headers=auth)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        server.fail_next("POST /v1/items/{id}", drop="after")
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/v1/items/7", headers=auth)
        assert server.api.count == 1  # handled, then the answer was lost
        assert http.post("/v1/items/7", headers=auth).json() == {"count": 2}
    assert server.count("POST /v1/items/{id}") == 2
    assert all("authorization" not in r.headers for r in server.requests)
    assert [r.fault for r in server.requests if r.fault] == ["429", "after"]
