"""The conformance suite catches what it claims to: each check, run against a provider that
breaks that one rule, fails (so none of them passes whatever the provider does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from anytune.provider import Capabilities, ProgressCallback, RenderedExample, Segment
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.testing.conformance import ProviderConformance
from anytune.testing.memory import MemoryStore
from anytune.types import Event, FileObject, Job, JobSpec

FAILED = (AssertionError, pytest.fail.Exception)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "t.jsonl", 12)


def spec_for(provider: InMemoryProvider, train: Path) -> JobSpec:
    return JobSpec(model="m", training_file=provider.upload_file(train).id, suffix="conf")


class EverythingForUnknownCursor(InMemoryProvider):
    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        events = super().list_events(job_id)
        ids = [e.id for e in events]
        return events[ids.index(after) + 1 :] if after in ids else events


class SilentUpload(InMemoryProvider):
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        return super().upload_file(path, purpose=purpose)


class UndeclaredFileListing(InMemoryProvider):
    capabilities: ClassVar[Capabilities] = Capabilities(pause_resume=True)


class DeleteDoesNothing(InMemoryProvider):
    def delete_file(self, file_id: str) -> None:
        self.get_file(file_id)


class OldestJobFirst(InMemoryProvider):
    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        return list(reversed(super().list_jobs(limit=limit)))


class BadRender(InMemoryProvider):
    capabilities: ClassVar[Capabilities] = Capabilities(render=True, file_management=True)

    def render_example(
        self, example: Any, *, model: str, line: int, options: Any
    ) -> RenderedExample:
        # Trains on everything, the prompt included.
        text = " ".join(m["content"] for m in example["messages"])
        return RenderedExample(
            line=line, segments=[Segment(text, True)], tokens=9, trained_tokens=9
        )


def test_a_cursor_taken_as_from_the_start_fails(train: Path) -> None:
    provider = EverythingForUnknownCursor(store=MemoryStore())
    with pytest.raises(FAILED):
        ProviderConformance().test_wait_succeeds_with_incremental_events_and_checkpoints(
            provider, spec_for(provider, train), 10.0, 0.0
        )


def test_an_upload_without_progress_fails(train: Path) -> None:
    with pytest.raises(FAILED, match="progress"):
        ProviderConformance().test_upload_round_trips(SilentUpload(store=MemoryStore()), train)


@pytest.mark.parametrize("provider_class", [UndeclaredFileListing, DeleteDoesNothing])
def test_file_listing_out_of_step_with_its_declaration_fails(
    provider_class: type[InMemoryProvider], train: Path, tmp_path: Path
) -> None:
    with pytest.raises(FAILED):
        ProviderConformance().test_files_are_listed_and_deleted_as_declared(
            provider_class(store=MemoryStore()), train, tmp_path
        )


def test_listing_oldest_job_first_fails(train: Path) -> None:
    provider = OldestJobFirst(store=MemoryStore())
    provider.create_job(spec_for(provider, train))
    with pytest.raises(FAILED, match="most recent first"):
        ProviderConformance().test_create_then_read_back_and_list(
            provider, spec_for(provider, train)
        )


def test_rendering_the_prompt_as_trained_fails() -> None:
    with pytest.raises(FAILED):
        ProviderConformance().test_render_as_declared(BadRender(store=MemoryStore()), "m")


def test_the_memory_provider_passes_what_the_broken_ones_fail(train: Path, tmp_path: Path) -> None:
    suite = ProviderConformance()
    provider = InMemoryProvider(store=MemoryStore())
    suite.test_wait_succeeds_with_incremental_events_and_checkpoints(
        provider, spec_for(provider, train), 10.0, 0.0
    )
    suite.test_upload_round_trips(provider, train)
    suite.test_files_are_listed_and_deleted_as_declared(provider, train, tmp_path)
    suite.test_create_then_read_back_and_list(provider, spec_for(provider, train))
    suite.test_render_as_declared(provider, "m")
