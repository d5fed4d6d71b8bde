"""What needs no cluster: the client stays light, settings mistakes are clear errors, storage
that training cannot use is refused before anything is created, and events read from their
file by byte offset (a cursor inside a line or past the end is not an event; a line still
being written waits for the next poll)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from anytune_ray.events import events_path
from anytune_ray.provider import RayProvider

from anytune.errors import ConfigurationError, NotFoundError
from anytune.testing.data import write_chat_jsonl
from anytune.types import JobSpec

UNREACHABLE = "http://127.0.0.1:9"  # nothing here is sent to it


def test_the_client_imports_neither_ray_nor_torch() -> None:
    code = (
        "import sys, anytune_ray.provider, anytune_ray.runs; "
        "print(sorted(m for m in ('ray', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_mistakes_say_what_to_set(
    tmp_path: Path, anytune_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigurationError, match="RAY_ADDRESS"):
        RayProvider(storage=str(tmp_path))
    with pytest.raises(ConfigurationError, match="dashboard"):
        RayProvider(address="ray://head:10001", storage=str(tmp_path))
    with pytest.raises(ConfigurationError, match="storage"):
        RayProvider(address=UNREACHABLE)
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        RayProvider(address=UNREACHABLE, storage="nosuchprotocol://bucket/x")
    with pytest.raises(ConfigurationError, match="JSON object"):
        RayProvider(address=UNREACHABLE, storage=str(tmp_path), headers="Bearer x")


def test_process_local_storage_holds_files_but_create_is_refused_first(
    tmp_path: Path, anytune_home: Path
) -> None:
    provider = RayProvider(address=UNREACHABLE, storage="memory://anytune-test")
    file = provider.upload_file(write_chat_jsonl(tmp_path / "train.jsonl", 3))
    assert provider.get_file(file.id).bytes == file.bytes
    assert file.id in [f.id for f in provider.list_files()]
    with pytest.raises(ConfigurationError, match="lives in this process only"):
        provider.create_job(JobSpec(model="some/model", training_file=file.id))
    # Nothing was recorded (listing asks the cluster, which is not there).
    assert provider.records.recent(UNREACHABLE, 10) == []
    assert not provider.storage.fs.exists(provider.storage.path("jobs"))
    provider.delete_file(file.id)


def test_events_by_byte_offset(tmp_path: Path, anytune_home: Path) -> None:
    provider = RayProvider(address=UNREACHABLE, storage=str(tmp_path / "storage"))
    provider.records.insert("ftjob-ray-x", address=UNREACHABLE, storage="s", spec="{}")
    path = events_path(provider.storage, "ftjob-ray-x", 0)
    for message in ("one", "two", "three"):
        provider.storage.append_line(path, {"kind": "event", "message": message, "created_at": 1})
    provider.storage.append_line(path, {"kind": "checkpoint", "step": 2})  # not an event
    with open(path, "a") as out:
        out.write('{"kind": "event", "message": "half')  # still being written
    events = provider.list_events("ftjob-ray-x")
    assert [e.message for e in events] == ["one", "two", "three"]
    assert [e.message for e in provider.list_events("ftjob-ray-x", after=events[0].id)] == [
        "two",
        "three",
    ]
    assert provider.list_events("ftjob-ray-x", after=events[-1].id) == []
    inside = events[1].id.rsplit("-", 1)[0] + "-" + str(int(events[1].id.rsplit("-", 1)[1]) + 3)
    for cursor in (inside, "ftevent-0-999999", "ftevent-1-0", "ftevent-does-not-exist-0000"):
        with pytest.raises(NotFoundError):
            provider.list_events("ftjob-ray-x", after=cursor)
    with pytest.raises(NotFoundError):
        provider.list_events("ftjob-ray-unknown")
