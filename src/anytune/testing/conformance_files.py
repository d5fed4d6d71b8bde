"""The files part of the conformance suite (``ProviderConformance`` includes it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anytune.errors import NotFoundError, UnsupportedOperationError
from anytune.provider import Provider
from anytune.testing.data import write_chat_jsonl
from anytune.types import FileObject

UNKNOWN_FILE = "file-does-not-exist-0000"


class FileConformance:
    """Uploads, and listing/deleting files exactly when ``file_management`` is declared."""

    def test_upload_round_trips(self, provider: Provider, training_file: Path) -> None:
        seen: list[tuple[int, int]] = []
        uploaded = provider.upload_file(
            training_file, progress=lambda done, total: seen.append((done, total))
        )
        size = training_file.stat().st_size
        assert isinstance(uploaded, FileObject) and isinstance(uploaded.id, str) and uploaded.id
        assert uploaded.provider == provider.name
        assert (uploaded.bytes, uploaded.purpose) == (size, "fine-tune")
        assert isinstance(uploaded.created_at, int) and uploaded.created_at > 0
        fetched = provider.get_file(uploaded.id)
        assert isinstance(fetched, FileObject)
        assert (fetched.id, fetched.filename) == (uploaded.id, uploaded.filename)
        # None: the provider does not report sizes (FileObject.bytes); never a wrong one.
        assert fetched.bytes in (size, None)
        assert seen, "upload_file never reported progress"
        assert seen[-1] == (size, size)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    def test_unknown_file_is_not_found(self, provider: Provider) -> None:
        with pytest.raises(NotFoundError):
            provider.get_file(UNKNOWN_FILE)

    def test_files_are_listed_and_deleted_as_declared(
        self, provider: Provider, training_file: Path, tmp_path: Path
    ) -> None:
        if not provider.capabilities.file_management:
            with pytest.raises(UnsupportedOperationError):
                provider.list_files()
            with pytest.raises(UnsupportedOperationError):
                provider.delete_file(UNKNOWN_FILE)
            return
        first = provider.upload_file(training_file)
        second = provider.upload_file(write_chat_jsonl(tmp_path / "other.jsonl", 13))
        assert first.id != second.id

        listed = provider.list_files()
        assert all(isinstance(f, FileObject) for f in listed)
        ids = [f.id for f in listed]
        assert first.id in ids and second.id in ids
        if second.created_at > first.created_at:  # timestamps are whole seconds
            assert ids.index(second.id) < ids.index(first.id), "list_files is newest first"
        assert len(provider.list_files(limit=1)) == 1
        assert second.id in [f.id for f in provider.list_files(purpose="fine-tune")]

        provider.delete_file(second.id)
        with pytest.raises(NotFoundError):
            provider.get_file(second.id)
        assert second.id not in [f.id for f in provider.list_files()]
        assert provider.get_file(first.id).id == first.id  # only that one went
        with pytest.raises(NotFoundError):
            provider.delete_file(second.id)
