"""upload / create / run: everything is checked before anything is uploaded, priced or
created; stdout carries the id alone (issue 10, items 6, 8, 10; issue 9, item 12)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from anytune import registry
from anytune.cli import cli
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.types import Job


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


def nothing_happened() -> None:
    provider = InMemoryProvider()
    assert provider.list_files() == [], "a file was uploaded"
    assert provider.list_jobs() == [], "a job was created"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-o", "stepz=8"], "stepz"),
        (["-o", "steps=abc"], "steps"),
        (["-o", "steps"], "KEY=VALUE"),
        (["--n-epochs", "60"], "n_epochs"),
        (["--beta", "0.1"], "dpo"),
        (["--metadata", "novalue"], "KEY=VALUE"),
        (["--integration", "{not json"], "not JSON"),
        (["-P", "bogus=1"], "bogus"),
    ],
)
@pytest.mark.parametrize("command", ["run", "create"])
def test_bad_arguments_stop_before_validation_upload_or_cost(
    train: Path, command: str, args: list[str], expected: str
) -> None:
    target = [str(train)] if command == "run" else ["-t", str(train)]
    result = invoke(command, *target, "-p", "memory", "-m", "base", *args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Validated" not in result.stderr and "Uploaded" not in result.stderr
    assert "unexpected" not in result.output and "Traceback" not in result.output
    nothing_happened()


def test_unknown_provider_setting_names_the_valid_ones(train: Path) -> None:
    result = invoke("upload", str(train), "-p", "memory", "-P", "bogus=1")
    assert result.exit_code == 2
    assert "bogus" in result.stderr and "store" in result.stderr  # the settings it takes
    assert "__init__()" not in result.output


def test_upload_checks_the_format_first_and_refuses_a_symlink_to_a_non_jsonl_file(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    link = tmp_path / "train.jsonl"
    link.symlink_to(secret)
    for args in (["upload", str(link)], ["create", "-t", str(link), "-m", "base"]):
        result = invoke(*args, "-p", "memory")
        assert result.exit_code == 1, result.output
        assert "nothing was uploaded" in result.stderr
        assert f"{link}:1:" in result.stderr  # file:line: what is wrong
        nothing_happened()
    forced = invoke("upload", str(link), "-p", "memory", "--skip-validation")
    assert forced.exit_code == 0
    assert len(InMemoryProvider().list_files()) == 1


def test_upload_and_create_print_the_id_alone_on_stdout(train: Path) -> None:
    uploaded = invoke("upload", str(train), "-p", "memory")
    assert uploaded.exit_code == 0, uploaded.output
    file_id = uploaded.stdout.strip()
    assert file_id.startswith("file-") and uploaded.stdout == file_id + "\n"
    assert "bytes" in uploaded.stderr  # details on stderr
    created = invoke("create", "-p", "memory", "-m", "base", "-t", file_id)
    assert created.exit_code == 0, created.output
    assert created.stdout == f"{InMemoryProvider().list_jobs()[0].id}\n"
    assert "model:" in created.stderr


def test_run_prints_the_job_id_first_and_the_model_last(train: Path) -> None:
    result = invoke("run", str(train), "-p", "memory", "-m", "base", "--interval", "0")
    assert result.exit_code == 0, result.output
    job_id, model = result.stdout.splitlines()
    (job,) = InMemoryProvider().list_jobs()
    assert job_id == job.id
    assert model == f"ft:base:memory:{job.id}"


def test_run_json_prints_two_json_lines(train: Path) -> None:
    result = invoke("run", str(train), "-p", "memory", "-m", "base", "--interval", "0", "--json")
    assert result.exit_code == 0, result.output
    created, final = (json.loads(line) for line in result.stdout.splitlines())
    assert created["id"] == final["id"] and final["status"] == "succeeded"


def test_json_errors_are_json_on_stdout(train: Path) -> None:
    result = invoke("status", "ftjob-nope", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "NotFoundError" and "not in anytune's local index" in error["message"]
    usage = invoke("create", "-p", "memory", "-m", "b", "-t", str(train), "-o", "x", "--json")
    assert usage.exit_code == 2
    assert json.loads(usage.stdout)["error"]["exit_code"] == 2


def test_create_with_a_directory_or_a_missing_path(tmp_path: Path) -> None:
    result = invoke("create", "-p", "memory", "-m", "b", "-t", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr
    missing = invoke("create", "-p", "memory", "-m", "b", "-t", "data/nope.jsonl")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    nothing_happened()


def test_validate_rejects_the_epochs_create_rejects(train: Path) -> None:
    validated = invoke("validate", str(train), "--n-epochs", "100")
    created = invoke("create", "-p", "memory", "-m", "b", "-t", str(train), "--n-epochs", "100")
    assert validated.exit_code == created.exit_code == 2
    assert "n_epochs" in validated.stderr and "n_epochs" in created.stderr
    with_provider = invoke("validate", str(train), "-p", "memory", "--n-epochs", "100")
    assert with_provider.exit_code == 2


class _Exploding(InMemoryProvider):
    name = "exploding"

    def get_job(self, job_id: str) -> Job:
        raise RuntimeError("kaboom")


class _Interrupted(InMemoryProvider):
    name = "interrupted"
    calls = 0

    def get_job(self, job_id: str) -> Job:
        type(self).calls += 1
        if type(self).calls > 1:
            raise KeyboardInterrupt
        return super().get_job(job_id)


@pytest.fixture
def scripted_providers() -> object:
    registry.register("exploding", _Exploding)
    registry.register("interrupted", _Interrupted)
    yield None
    registry.unregister("exploding")
    registry.unregister("interrupted")


@pytest.mark.usefixtures("scripted_providers")
def test_debug_flag_shows_the_traceback() -> None:
    plain = invoke("status", "x", "-p", "exploding")
    assert plain.exit_code == 1 and "Traceback" not in plain.stderr
    debug = invoke("--debug", "status", "x", "-p", "exploding")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "kaboom" in debug.stderr
    env = CliRunner().invoke(cli, ["status", "x", "-p", "exploding"], env={"ANYTUNE_DEBUG": "1"})
    assert "Traceback" in env.stderr


@pytest.mark.usefixtures("scripted_providers")
def test_ctrl_c_during_wait_says_the_job_keeps_running(train: Path) -> None:
    file_id = InMemoryProvider().upload_file(train).id
    from anytune.types import JobSpec

    job = InMemoryProvider().create_job(JobSpec(model="m", training_file=file_id))
    result = invoke("wait", job.id, "-p", "interrupted", "--interval", "0")
    assert result.exit_code == 130
    assert "\nInterrupted: stopped waiting" in "\n" + result.stderr
    assert f"anytune wait {job.id}" in result.stderr and f"anytune cancel {job.id}" in result.stderr


def test_a_job_of_another_provider_says_where_the_index_knows_it(
    train: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = invoke("create", "-p", "memory", "-m", "b", "-t", str(train)).stdout.strip()
    registry.register("othermem", lambda: InMemoryProvider(store=_empty_store()))
    try:
        result = invoke("status", job_id, "-p", "othermem")
    finally:
        registry.unregister("othermem")
    assert result.exit_code == 1
    assert "index knows job" in result.stderr and "'memory'" in result.stderr


def _empty_store() -> object:
    from anytune.testing.memory import MemoryStore

    return MemoryStore()


class _NeedsTen(InMemoryProvider):
    name = "needsten"

    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> Any:
        from anytune.provider import DatasetRules

        return DatasetRules(min_examples=10, methods=self.capabilities.methods)


def test_a_small_validation_file_is_checked_with_the_training_file(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    valid = write_chat_jsonl(tmp_path / "valid.jsonl", 3)
    registry.register("needsten", _NeedsTen)
    try:
        result = invoke("create", "-p", "needsten", "-m", "b", "-t", str(train), "-v", str(valid))
        assert result.exit_code == 0, result.output  # the minimum is for training data
        assert f"Validated {train}" in result.stderr
        only_valid = invoke(
            "create", "-p", "needsten", "-m", "b", "-t", "file-000001", "-v", str(valid)
        )
        assert only_valid.exit_code == 0, only_valid.output
        small = invoke("create", "-p", "needsten", "-m", "b", "-t", str(valid))
        assert small.exit_code == 1 and "at least 10" in small.stderr
    finally:
        registry.unregister("needsten")
