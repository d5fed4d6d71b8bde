"""Faults between the client and the cluster: a create whose answer is lost (a real
127.0.0.1 proxy in front of the dashboard forwards the POST, then drops the connection
before answering), and auth headers that never appear in what anytune shows or stores."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from conftest import FAST_OPTIONS

from anytune.errors import AuthenticationError
from anytune.polling import wait
from anytune.types import JobSpec, JobStatus

pytestmark = pytest.mark.slow


class _Proxy(http.server.ThreadingHTTPServer):
    target: str
    drop_next_submit: bool
    submits: int


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Proxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type",)}
        upstream = httpx.request(
            self.command, self.server.target + self.path, content=body, headers=headers, timeout=60
        )
        if self.command == "POST" and self.path == "/api/jobs/":
            self.server.submits += 1
            if self.server.drop_next_submit:
                self.server.drop_next_submit = False
                self.close_connection = True
                return  # the job exists on the cluster; its answer never reaches the client
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", upstream.headers.get("content-type", "text/plain"))
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    do_GET = do_POST = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxy(ray_address: str) -> Iterator[_Proxy]:
    server = _Proxy(("127.0.0.1", 0), _Handler)
    server.target, server.drop_next_submit, server.submits = ray_address, False, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_lost_create_answer_still_makes_one_ray_job(
    proxy: _Proxy, ray_address: str, tmp_path: Path, anytune_home: Path, tiny_model: Path
) -> None:
    from anytune_ray.provider import RayProvider

    from anytune.testing.data import write_chat_jsonl

    address = f"http://127.0.0.1:{proxy.server_address[1]}"
    provider = RayProvider(address=address, storage=str(tmp_path / "storage"))
    file = provider.upload_file(write_chat_jsonl(tmp_path / "train.jsonl", 12))
    proxy.drop_next_submit = True
    options = {**FAST_OPTIONS, "max_steps": 1}
    job = provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file.id, options=options)
    )
    assert proxy.submits == 2, "the lost answer was not retried"
    mine = [
        j
        for j in httpx.get(f"{ray_address}/api/jobs/").json()
        if (j.get("metadata") or {}).get("anytune_job") == job.id
    ]
    assert len(mine) == 1
    assert wait(provider, job.id, interval=0.3, timeout=240).status == JobStatus.SUCCEEDED
    provider.close()


def test_auth_headers_are_sent_and_never_shown(
    proxy: _Proxy, tmp_path: Path, anytune_home: Path
) -> None:
    from anytune_ray.provider import RayProvider

    secret = "Bearer s3cr3t-token-value-123"

    class Refusing(http.server.BaseHTTPRequestHandler):
        seen: ClassVar[list[str]] = []

        def do_GET(self) -> None:
            Refusing.seen.append(str(self.headers.get("Authorization")))
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b"unauthorized")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        provider = RayProvider(
            address=f"http://127.0.0.1:{server.server_address[1]}",
            storage=str(tmp_path / "storage"),
            headers=json.dumps({"Authorization": secret}),
        )
        with pytest.raises(AuthenticationError) as info:
            provider.rest.list()
        assert Refusing.seen and Refusing.seen[-1] == secret
        assert secret not in str(info.value) and secret not in repr(provider)
        assert secret in provider.secret_values()
        stored = b"".join(p.read_bytes() for p in anytune_home.rglob("*") if p.is_file())
        assert secret.encode() not in stored
    finally:
        server.shutdown()
        server.server_close()
