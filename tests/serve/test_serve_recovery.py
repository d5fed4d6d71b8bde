"""A create interrupted by a crash between the provider's create and the server's own record:
the job is adopted at the next start, never lost (in-process: the window cannot be hit from
outside reliably)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anytune.serve import jobs
from anytune.serve.errors import APIError
from anytune.serve.service import ServeConfig, Service
from anytune.serve.state import JobRow
from anytune.testing.data import write_chat_jsonl
from anytune.testing.memory import InMemoryProvider, MemoryStore
from anytune.types import JobSpec


def _service(data_dir: Path, store: MemoryStore) -> Service:
    config = ServeConfig(provider="memory", data_dir=data_dir, models={"m": "m"})
    return Service(config, InMemoryProvider(store=store))


def test_interrupted_create_is_adopted_at_start(tmp_path: Path) -> None:
    store = MemoryStore()
    service = _service(tmp_path / "serve", store)
    with write_chat_jsonl(tmp_path / "t.jsonl", 12).open("rb") as handle:
        file = service.store_file("alpha", "t.jsonl", "fine-tune", handle)
    row = JobRow(
        id="", project="alpha", seq=0, created_at=0, model="m", training_file=file.id,
        validation_file=None, request={"suffix": None}, model_name="ft:m:alpha::0000abcd",
        model_deleted=False, last_event=None,
    )  # fmt: skip
    # The server noted the create, the provider made the job, then the server died.
    service.state.add_pending("t1", row, "m", file.provider_id)
    made = service.provider.create_job(JobSpec(model="m", training_file=file.provider_id))
    # A second create died before the provider was even asked.
    service.state.add_pending(
        "t2", JobRow(**{**row.__dict__, "model_name": "ft:m:alpha::1"}), "m", "file-other"
    )

    restarted = _service(tmp_path / "serve", store)
    assert jobs.recover_pending(restarted) == 1
    adopted = restarted.state.get_job("alpha", made.id)
    assert adopted is not None and adopted.training_file == file.id
    assert adopted.model_name == "ft:m:alpha::0000abcd"
    assert restarted.state.pending() == []
    assert jobs.retrieve(restarted, "alpha", made.id)["id"] == made.id


def test_a_normal_create_leaves_no_note(tmp_path: Path) -> None:
    service = _service(tmp_path / "serve", MemoryStore())
    with write_chat_jsonl(tmp_path / "t.jsonl", 12).open("rb") as handle:
        file = service.store_file("alpha", "t.jsonl", "fine-tune", handle)
    created = jobs.create(service, "alpha", {"model": "m", "training_file": file.id})
    assert service.state.pending() == []
    assert service.state.get_job("alpha", created["id"]) is not None


def test_jobs_the_provider_lost_are_left_out_of_lists(tmp_path: Path) -> None:
    service = _service(tmp_path / "serve", MemoryStore())
    with write_chat_jsonl(tmp_path / "t.jsonl", 12).open("rb") as handle:
        file = service.store_file("alpha", "t.jsonl", "fine-tune", handle)
    created = jobs.create(service, "alpha", {"model": "m", "training_file": file.id})
    # The in-memory provider restarted: it has no jobs any more.
    restarted = _service(tmp_path / "serve", MemoryStore())
    assert jobs.list_jobs(restarted, "alpha", after=None, limit=20, metadata=None)["data"] == []
    with pytest.raises(APIError) as info:
        jobs.retrieve(restarted, "alpha", created["id"])
    assert info.value.status == 404


def test_a_provider_that_reuses_job_ids_after_a_restart(tmp_path: Path) -> None:
    first = _service(tmp_path / "serve", MemoryStore())
    with write_chat_jsonl(tmp_path / "t.jsonl", 12).open("rb") as handle:
        file = first.store_file("alpha", "t.jsonl", "fine-tune", handle)
    old = jobs.create(first, "alpha", {"model": "m", "training_file": file.id})
    jobs.events(first, "alpha", old["id"], after=None, limit=20)
    # The in-memory provider starts empty again and numbers its jobs from the start.
    second = _service(tmp_path / "serve", MemoryStore())
    with write_chat_jsonl(tmp_path / "u.jsonl", 12).open("rb") as handle:
        other = second.store_file("alpha", "u.jsonl", "fine-tune", handle)
    new = jobs.create(second, "alpha", {"model": "m", "training_file": other.id})
    assert new["id"] == old["id"] and new["training_file"] == other.id
    events = jobs.events(second, "alpha", new["id"], after=None, limit=20)["data"]
    assert len(events) == 1, "the old job's events are gone"
