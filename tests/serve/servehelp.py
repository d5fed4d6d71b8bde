"""Helpers for the serve tests: a real `anytune serve` process, and OpenAPI validation of
every response the SDK receives (jsonschema against OpenAI's published document)."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import httpx2
import jsonschema

REPO = Path(__file__).resolve().parents[2]
KEY_A = "key-project-alpha-0123456789"
KEY_B = "key-project-beta-9876543210"
SPEC_FILES = ("openai-fine-tuning.json", "openai-chat-and-models.json")


def shared_openapi() -> Path:
    """``shared/openapi`` beside the repository (or above it), never a copy in the repo."""
    configured = os.environ.get("ANYTUNE_SHARED")
    candidates = [Path(configured) / "openapi"] if configured else []
    candidates += [parent / "shared" / "openapi" for parent in REPO.parents]
    for candidate in candidates:
        if (candidate / SPEC_FILES[0]).is_file():
            return candidate
    raise FileNotFoundError("shared/openapi not found above the repository (set ANYTUNE_SHARED)")


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (still used in places) as JSON Schema's null type."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    members = node.get("allOf")
    if isinstance(members, list) and any(
        isinstance(m, dict) and m.get("nullable") for m in members
    ):
        # allOf [X, {nullable: true}] means "X or null".
        rest = {k: v for k, v in node.items() if k != "allOf"}
        kept = [_nullable({k: v for k, v in m.items() if k != "nullable"}) for m in members]
        return {"anyOf": [{**rest, "allOf": kept}, {"type": "null"}]}
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@cache
def _documents() -> list[dict[str, Any]]:
    documents = []
    for name in SPEC_FILES:
        document = _nullable(json.loads((shared_openapi() / name).read_text()))
        job = document["components"]["schemas"].get("FineTuningJob")
        if job is not None:
            # The published enum lacks `paused`, though the API returns it (shared/openapi
            # SOURCES.md notes this): accept it, and nothing else extra.
            job["properties"]["status"]["enum"].append("paused")
        documents.append(document)
    return documents


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")


def response_schema(
    method: str, path: str, status: int, content_type: str
) -> dict[str, Any] | None:
    for document in _documents():
        for template, operations in document["paths"].items():
            if not _template(template).match(path):
                continue
            operation = operations.get(method.lower())
            if operation is None:
                continue
            response = operation["responses"].get(str(status))
            if response is None:
                return None
            schema = response.get("content", {}).get(content_type, {}).get("schema")
            return schema if schema is not None else None
    return None


def validate(schema: Mapping[str, Any], instance: Any) -> None:
    for document in _documents():
        if _refs_resolve(schema, document):
            root = copy.copy(document)
            root.update(schema)
            jsonschema.Draft202012Validator(root).validate(instance)
            return
    raise AssertionError(f"schema {schema} not in the OpenAPI documents")


def _refs_resolve(schema: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    refs = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema))
    return all(r in document["components"]["schemas"] for r in refs)


def component(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


class Seen:
    """Every response checked, by route, so tests can assert what was covered."""

    def __init__(self) -> None:
        self.validated: list[str] = []
        self.errors: list[str] = []


SEEN = Seen()


def check_response(response: httpx2.Response) -> None:
    request = response.request
    path = request.url.path.removeprefix("/v1")
    content_type = response.headers.get("content-type", "").split(";")[0]
    if content_type == "text/event-stream" or path.endswith("/content"):
        return  # streams are checked chunk by chunk; file content is the file's bytes
    response.read()
    body = response.json()
    if response.status_code >= 400:
        validate(component("ErrorResponse"), body)
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        SEEN.errors.append(f"{request.method} {path} {response.status_code}")
        return
    schema = response_schema(request.method, path, response.status_code, content_type)
    assert schema is not None, f"no schema for {request.method} {path} {response.status_code}"
    validate(schema, body)
    SEEN.validated.append(f"{request.method} {path}")


async def acheck_response(response: httpx2.Response) -> None:
    content_type = response.headers.get("content-type", "").split(";")[0]
    if content_type == "text/event-stream":
        return
    await response.aread()
    check_response(response)


def validating_client() -> httpx2.Client:
    return httpx2.Client(event_hooks={"response": [check_response]}, timeout=120)


def validating_async_client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(event_hooks={"response": [acheck_response]}, timeout=120)


def server_env(home: Path) -> dict[str, str]:
    """The environment of a server process: its own ANYTUNE_HOME, no inherited keys."""
    env = dict(os.environ)
    env["ANYTUNE_HOME"] = str(home)
    env.pop("ANYTUNE_SERVER_API_KEYS", None)
    env.pop("OPENAI_BASE_URL", None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`anytune serve ARGS` in its own process on 127.0.0.1."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.env = dict(env)
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60.0) -> Server:
        command = [
            sys.executable,
            "-m",
            "anytune.cli",
            "serve",
            "--port",
            str(self.port),
            *self.args,
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"anytune serve exited {self.process.returncode}:\n{self.output()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"anytune serve did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def sse_chunks(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of a server-sent-event stream, up to `data: [DONE]`."""
    chunks = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            if payload == "[DONE]":
                break
            chunks.append(json.loads(payload))
    return chunks
