"""What the local provider refuses before a job exists: option values out of range, model
names that cannot load (a missing relative path, a hub id while offline), and what the files
API does (list newest first, delete, refuse to delete a file an unfinished job needs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from anytune_local.options import OPTION_RANGES
from anytune_local.provider import LocalProvider
from jobhelp import anytune_cli

from anytune.errors import ConfigurationError, ConflictError, InvalidArgumentError, NotFoundError
from anytune.testing.data import write_chat_jsonl
from anytune.types import JobSpec

BAD_OPTIONS = [
    ({"lora_r": -4}, "lora_r=-4 is out of range: it must be >= 1"),
    ({"lora_r": 0}, "lora_r=0"),
    ({"lora_alpha": 0}, "lora_alpha=0"),
    ({"lora_dropout": 1.0}, "lora_dropout=1.0 is out of range: it must be from 0 to 1 (excluded)"),
    ({"lora_dropout": -0.1}, "lora_dropout=-0.1"),
    ({"max_length": 0}, "max_length=0"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps=0"),
    ({"warmup_ratio": 1.5}, "warmup_ratio=1.5"),
    ({"max_steps": -1}, "max_steps=-1"),
    ({"save_total_limit": -2}, "save_total_limit=-2"),
    ({"nproc_per_node": 0}, "nproc_per_node=0"),
    ({"seed": -1}, "seed=-1"),
    ({"micro_batch_tokens": 0}, "micro_batch_tokens=0"),
]


@pytest.fixture
def uploaded(local_provider: LocalProvider, train_file: Path) -> str:
    return local_provider.upload_file(train_file).id


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_option_values_out_of_range_are_refused_before_a_job_exists(
    local_provider: LocalProvider,
    tiny_model: Path,
    uploaded: str,
    options: dict[str, object],
    message: str,
) -> None:
    spec = JobSpec(model=str(tiny_model), training_file=uploaded, options=options)
    with pytest.raises(InvalidArgumentError, match="out of range") as info:
        local_provider.validate_spec(spec)
    assert message in info.value.message
    assert "default" in (info.value.hint or "")
    with pytest.raises(InvalidArgumentError):
        local_provider.create_job(spec)
    assert local_provider.list_jobs() == []


def test_every_numeric_option_has_a_range_and_the_defaults_are_inside_it(
    local_provider: LocalProvider, tiny_model: Path, uploaded: str
) -> None:
    numeric = {n for n, s in local_provider.option_specs.items() if s.type in (int, float)}
    assert numeric == set(OPTION_RANGES)
    local_provider.validate_spec(JobSpec(model=str(tiny_model), training_file=uploaded))


def test_the_cli_refuses_an_out_of_range_option_with_exit_2(
    tiny_model: Path, train_file: Path
) -> None:
    result = anytune_cli(
        "create", "-t", str(train_file), "-m", str(tiny_model), "-p", "local", "-o", "lora_r=-4"
    )
    assert result.returncode == 2, result.stderr
    assert "lora_r=-4 is out of range" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_relative_model_path_that_does_not_exist_is_refused_at_create(
    local_provider: LocalProvider,
    uploaded: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE")  # online: still not taken for a hub id
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(ConfigurationError, match="model path 'runs/tiny' does not exist") as info:
        local_provider.create_job(JobSpec(model="runs/tiny", training_file=uploaded))
    assert str(tmp_path) in info.value.message and "make-tiny-model" in (info.value.hint or "")
    for name in ("./tiny", "../tiny", "a/b/c", "not a model name"):
        with pytest.raises(ConfigurationError, match="does not exist"):
            local_provider.validate_spec(JobSpec(model=name, training_file=uploaded))
    assert local_provider.list_jobs() == []


def test_a_hub_id_while_offline_and_not_cached_says_so(
    local_provider: LocalProvider,
    uploaded: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigurationError, match="HF_HUB_OFFLINE is set") as info:
        local_provider.validate_spec(JobSpec(model="org/model", training_file=uploaded))
    assert str(tmp_path / "cache") in info.value.message
    (tmp_path / "cache" / "models--org--model").mkdir(parents=True)  # cached: fine offline
    local_provider.validate_spec(JobSpec(model="org/model", training_file=uploaded))


def test_validate_with_a_model_that_does_not_exist_does_not_say_ok(train_file: Path) -> None:
    result = anytune_cli("validate", str(train_file), "-p", "local", "-m", "/nonexistent")
    assert result.returncode != 0, result.stdout
    assert "model path '/nonexistent' does not exist" in result.stderr
    assert "OK" not in result.stdout and "Traceback" not in result.stderr


def test_files_are_listed_newest_first_and_deleted(
    local_provider: LocalProvider, tmp_path: Path
) -> None:
    first = local_provider.upload_file(write_chat_jsonl(tmp_path / "a.jsonl", 2))
    second = local_provider.upload_file(write_chat_jsonl(tmp_path / "b.jsonl", 3))
    stored = Path(local_provider.store.files_dir, second.sha256 or "")
    assert [f.id for f in local_provider.list_files()] == [second.id, first.id]
    assert [f.id for f in local_provider.list_files(limit=1)] == [second.id]
    assert local_provider.list_files(purpose="other") == []

    local_provider.delete_file(second.id)

    assert [f.id for f in local_provider.list_files()] == [first.id]
    assert not stored.exists()
    with pytest.raises(NotFoundError, match="anytune upload"):
        local_provider.delete_file(second.id)


def test_a_file_an_unfinished_job_uses_cannot_be_deleted(
    local_provider: LocalProvider, uploaded: str
) -> None:
    spec = json.dumps({"model": "m", "training_file": uploaded, "options": {}})
    local_provider.store.insert_job("ftjob-waiting", model="m", spec=spec, status="queued")
    with pytest.raises(ConflictError, match="ftjob-waiting") as info:
        local_provider.delete_file(uploaded)
    assert "cancel" in (info.value.hint or "")
    assert [f.id for f in local_provider.list_files()] == [uploaded]
    local_provider.store.update_job("ftjob-waiting", status="succeeded")
    local_provider.delete_file(uploaded)
    assert local_provider.list_files() == []


def test_files_list_and_delete_through_the_cli(local_home: Path, train_file: Path) -> None:
    env = dict(os.environ)
    uploaded = anytune_cli("upload", str(train_file), "-p", "local", env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    file_id = uploaded.stdout.strip()
    listed = anytune_cli("files", "list", "-p", "local", "--json", env=env)
    assert [f["id"] for f in json.loads(listed.stdout)] == [file_id], listed.stderr
    deleted = anytune_cli("files", "delete", file_id, "-p", "local", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert LocalProvider(home=local_home).list_files() == []
