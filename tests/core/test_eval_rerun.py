"""anytune rerun: a recorded job's exact spec again (new model, another provider with the
files uploaded again), lineage in the index and in `anytune list`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from anytune import Client, registry
from anytune.cli import cli
from anytune.errors import ConflictError, NotFoundError
from anytune.index import JobIndex
from anytune.rerun import rerun
from anytune.testing import InMemoryProvider
from anytune.testing.memory import MemoryStore


class Other(InMemoryProvider):
    """Another provider: its own store, so nothing of the first one is visible."""

    name: ClassVar[str] = "othermemory"
    store = MemoryStore()

    def __init__(self) -> None:
        super().__init__(store=Other.store)


@pytest.fixture(autouse=True)
def other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    Other.store = MemoryStore()
    registry.register(Other.name, Other)
    yield
    registry.unregister(Other.name)


def chat_file(path: Path, answer: str = "b") -> Path:
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": answer}]
    path.write_text(json.dumps({"messages": messages}) + "\n")
    return path


def original(tmp_path: Path) -> tuple[str, Path]:
    client = Client("memory")
    train = chat_file(tmp_path / "train.jsonl")
    valid = chat_file(tmp_path / "valid.jsonl", "c")
    job = client.jobs.create(
        model="base-1",
        training_file=client.files.create(train).id,
        validation_file=client.files.create(valid).id,
        hyperparameters={"n_epochs": 2},
        seed=7,
        options={"steps": 2},
    )
    return job.id, train


def test_same_provider_new_model_keeps_the_spec(tmp_path: Path) -> None:
    job_id, _ = original(tmp_path)
    done = rerun(job_id, model="base-2")
    old = InMemoryProvider().get_job(job_id)
    assert done.job.model == "base-2" and done.job.training_file == old.training_file
    assert done.job.hyperparameters.n_epochs == 2 and done.job.seed == 7
    entry = JobIndex().find(done.job.id)
    assert (
        entry.parent == job_id and entry.spec is not None and entry.spec["options"] == {"steps": 2}
    )


def test_other_provider_uploads_again_and_drops_options(tmp_path: Path) -> None:
    job_id, train = original(tmp_path)
    done = rerun(job_id, provider=Other.name)
    assert done.job.provider == Other.name
    uploaded = Other().get_file(done.job.training_file)
    assert uploaded.filename == "train.jsonl" and uploaded.bytes == train.stat().st_size
    assert any("options not carried over: steps" in n for n in done.notes)
    assert done.job.validation_file is not None


def test_a_file_changed_since_upload_is_not_trained_on(tmp_path: Path) -> None:
    job_id, train = original(tmp_path)
    chat_file(train, "edited")
    with pytest.raises(NotFoundError, match="changed or was removed since"):
        rerun(job_id, provider=Other.name)


def test_a_job_recorded_without_spec(tmp_path: Path) -> None:
    JobIndex().record("ftjob-old", "memory", model="m")
    with pytest.raises(ConflictError, match="without its spec"):
        rerun("ftjob-old")


def test_an_index_from_before_specs_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "home" / "index.sqlite3"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE jobs (job_id TEXT NOT NULL, provider TEXT NOT NULL, connection TEXT NOT "
            "NULL DEFAULT '{}', model TEXT, training_file TEXT, created_at INTEGER NOT NULL, "
            "last_status TEXT, PRIMARY KEY (provider, job_id))"
        )
        conn.execute("INSERT INTO jobs VALUES ('ftjob-1', 'memory', '{}', 'm', 'f', 1, 'queued')")
    (entry,) = JobIndex().list()
    assert entry.job_id == "ftjob-1" and entry.spec is None and entry.parent is None


def test_cli_rerun_and_list_lineage(tmp_path: Path) -> None:
    job_id, _ = original(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["rerun", job_id, "--model", "base-3", "-p", Other.name])
    assert result.exit_code == 0, result.output
    new_id = result.output.strip().splitlines()[-1]
    listed = runner.invoke(cli, ["list"])
    row = next(line for line in listed.output.splitlines() if line.startswith(new_id))
    assert row.endswith(f"base-3  (rerun of {job_id})")
    as_json = json.loads(runner.invoke(cli, ["list", "--json"]).output)
    assert as_json[0]["parent"] == job_id
