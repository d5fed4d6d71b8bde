"""Issue 10 item 20 on the openai side: listing and deleting files, and a deleted file is
dropped from the upload cache (the same content is uploaded again, not "reused")."""

from __future__ import annotations

from pathlib import Path

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import FakeOpenAIServer

from anytune.errors import NotFoundError
from anytune.testing import write_chat_jsonl

RETRIEVE = "GET /v1/files/{id}"
UPLOAD = "POST /v1/files"
DELETE = "DELETE /v1/files/{id}"


def test_list_newest_first_with_purpose_and_limit(
    provider: OpenAIProvider, server: FakeOpenAIServer, tmp_path: Path
) -> None:
    ids = [
        provider.upload_file(write_chat_jsonl(tmp_path / f"f{i}.jsonl", 10 + i)).id
        for i in range(3)
    ]
    other = provider.upload_file(write_chat_jsonl(tmp_path / "b.jsonl", 10), purpose="batch")
    assert [f.id for f in provider.list_files()] == [other.id, *ids[::-1]]
    assert [f.id for f in provider.list_files(purpose="fine-tune")] == ids[::-1]
    assert [f.id for f in provider.list_files(limit=2)] == [other.id, ids[2]]
    assert provider.list_files(limit=0) == []
    listed = provider.list_files(purpose="fine-tune", limit=1)[0]
    assert listed.provider == "openai" and listed.filename == "f2.jsonl" and listed.bytes > 0
    assert provider.capabilities.file_management


def test_delete_removes_the_file_and_its_cache_entry(
    provider: OpenAIProvider, server: FakeOpenAIServer, train: Path
) -> None:
    first = provider.upload_file(train)
    provider.delete_file(first.id)
    assert provider.list_files() == []
    with pytest.raises(NotFoundError):
        provider.get_file(first.id)
    with pytest.raises(NotFoundError):
        provider.delete_file(first.id)
    server.reset_requests()
    again = provider.upload_file(train)
    assert again.id != first.id
    # The cache forgot the deleted id: no look-up of it (which would 404) before uploading.
    assert server.count(RETRIEVE) == 0 and server.count(UPLOAD) == 1
    assert provider.upload_file(train).id == again.id  # and the new one is reused


def test_a_lost_delete_response_is_not_an_error(
    provider: OpenAIProvider, server: FakeOpenAIServer, train: Path
) -> None:
    uploaded = provider.upload_file(train)
    server.fail_next(DELETE, drop="after")  # deleted, then the connection dropped
    provider.delete_file(uploaded.id)  # the retry finds it gone: done
    assert server.count(DELETE) == 2 and server.files() == []


def test_client_files_api_reaches_the_provider(server: FakeOpenAIServer, train: Path) -> None:
    from anytune_openai.testing import TEST_API_KEY

    from anytune import Client

    client = Client("openai", api_key=TEST_API_KEY, base_url=server.url)
    uploaded = client.files.create(train)
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [uploaded.id]
    client.files.delete(uploaded.id)
    assert server.files() == [] and list(client.files.list()) == []
