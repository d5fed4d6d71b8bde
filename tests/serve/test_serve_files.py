"""Files and uploads through the real openai SDK against `anytune serve` (memory provider)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from servehelp import KEY_A, SEEN, Server

from anytune.testing.data import write_chat_jsonl


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


def test_upload_list_retrieve_content_delete(client: openai.OpenAI, train: Path) -> None:
    with train.open("rb") as handle:
        created = client.files.create(file=handle, purpose="fine-tune")
    assert created.id.startswith("file-")
    assert created.filename == "train.jsonl"
    assert created.bytes == train.stat().st_size
    assert created.purpose == "fine-tune" and created.status == "processed"

    assert client.files.retrieve(created.id).id == created.id
    listed = client.files.list(purpose="fine-tune")
    assert created.id in [f.id for f in listed.data]
    assert client.files.content(created.id).read() == train.read_bytes()

    deleted = client.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert "POST /files" in SEEN.validated and "GET /files" in SEEN.validated


def test_list_pages_with_after_and_limit(client: openai.OpenAI, train: Path) -> None:
    ids = [client.files.create(file=train, purpose="fine-tune").id for _ in range(3)]
    first = client.files.list(limit=2, order="asc", after=ids[0])
    assert [f.id for f in first.data] == ids[1:3]
    newest = client.files.list(limit=1)
    assert newest.data[0].id == ids[-1] and newest.has_more


def test_same_bytes_from_two_projects_stay_separate(
    client: openai.OpenAI, other_client: openai.OpenAI, train: Path
) -> None:
    mine = client.files.create(file=train, purpose="fine-tune")
    theirs = other_client.files.create(file=train, purpose="fine-tune")
    assert mine.id != theirs.id
    for call in (
        lambda: other_client.files.retrieve(mine.id),
        lambda: other_client.files.content(mine.id),
        lambda: other_client.files.delete(mine.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert mine.id not in [f.id for f in other_client.files.list().data]
    other_client.files.delete(theirs.id)
    # Deleting B's copy leaves A's file whole, though the provider holds the bytes once.
    assert client.files.content(mine.id).read() == train.read_bytes()


def test_expires_after_is_accepted(client: openai.OpenAI, train: Path) -> None:
    created = client.files.create(
        file=train, purpose="fine-tune", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert client.files.retrieve(created.id).id == created.id


def test_wrong_purpose_is_400(client: openai.OpenAI, train: Path) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=train, purpose="bogus")  # type: ignore[arg-type]
    assert info.value.param == "purpose"
    with pytest.raises(openai.BadRequestError, match="fine-tune"):
        client.files.create(file=train, purpose="assistants")


def test_oversized_upload_is_413(client: openai.OpenAI) -> None:
    big = io.BytesIO(b'{"messages": []}\n' * (1024 * 1024 // 17 + 10_000))
    with pytest.raises(openai.APIStatusError) as info:
        client.files.create(file=("big.jsonl", big), purpose="fine-tune")
    assert info.value.status_code == 413
    assert info.value.type == "invalid_request_error"


def test_uploads_in_parts(client: openai.OpenAI, train: Path) -> None:
    data = train.read_bytes()
    upload = client.uploads.create(
        filename="parts.jsonl", purpose="fine-tune", bytes=len(data), mime_type="application/jsonl"
    )
    assert upload.status == "pending"
    half = len(data) // 2
    parts = [
        client.uploads.parts.create(upload.id, data=chunk) for chunk in (data[:half], data[half:])
    ]
    done = client.uploads.complete(upload.id, part_ids=[p.id for p in parts])
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).read() == data
    assert client.files.retrieve(done.file.id).filename == "parts.jsonl"


def test_upload_with_wrong_total_and_cancel(client: openai.OpenAI) -> None:
    upload = client.uploads.create(
        filename="x.jsonl", purpose="fine-tune", bytes=10, mime_type="application/jsonl"
    )
    part = client.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.BadRequestError, match="10"):
        client.uploads.complete(upload.id, part_ids=[part.id])
    assert client.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        client.uploads.parts.create(upload.id, data=b"more")


def test_uploads_chunked_helper(client: openai.OpenAI, train: Path) -> None:
    done = client.uploads.upload_file_chunked(
        file=train, mime_type="application/jsonl", purpose="fine-tune", part_size=200
    )
    assert done.file is not None
    assert client.files.content(done.file.id).read() == train.read_bytes()


def test_oversized_upload_without_a_length_is_413(memory_server: Server) -> None:
    boundary = "x0x0x0"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
    ).encode()

    def chunked() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        yield head
        for _ in range(40):
            yield b"x" * 64 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx2.post(
        f"{memory_server.url}/files",
        content=chunked(),
        headers={
            "Authorization": f"Bearer {KEY_A}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
