"""The local provider's API without training: uploads, fail-fast checks with clear errors,
a job that fails in validation, state errors, fast imports, and the `anytune local` group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_local.provider import LocalProvider
from click.testing import CliRunner
from jobhelp import wait_until

from anytune.cli import cli
from anytune.errors import (
    ConfigurationError,
    ConflictError,
    DatasetError,
    NotFoundError,
)
from anytune.types import Hyperparameters, JobSpec, JobStatus


def test_upload_is_content_addressed_with_progress(
    local_provider: LocalProvider, train_file: Path, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    first = local_provider.upload_file(train_file, progress=lambda d, t: seen.append((d, t)))
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(train_file.read_bytes())
    second = local_provider.upload_file(copy)

    size = train_file.stat().st_size
    assert first.id == second.id and first.id.startswith("file-")
    assert (first.bytes, first.provider, first.status) == (size, "local", "processed")
    assert seen[-1] == (size, size)
    stored = local_provider.store.files_dir / (first.sha256 or "")
    assert stored.read_bytes() == train_file.read_bytes()
    assert local_provider.get_file(first.id) == first
    with pytest.raises(NotFoundError):
        local_provider.get_file("file-000000000000000000000000")
    with pytest.raises(NotFoundError):
        local_provider.upload_file(tmp_path / "missing.jsonl")


def test_validate_spec_fails_fast_with_clear_errors(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path, tmp_path: Path
) -> None:
    file_id = local_provider.upload_file(train_file).id

    def spec(**changes: object) -> JobSpec:
        values: dict[str, object] = {"model": str(tiny_model), "training_file": file_id}
        values.update(changes)
        return JobSpec(**values)  # type: ignore[arg-type]

    validated = local_provider.validate_spec(spec(options={"lora_r": "8"}))
    assert validated.options.explicit_dict() == {"lora_r": 8}  # coerced, defaults apart
    with pytest.raises(ConfigurationError, match="lora_rank") as info:
        local_provider.validate_spec(spec(options={"lora_rank": 8}))
    assert "lora_r" in str(info.value)
    with pytest.raises(ConfigurationError, match="does not exist"):
        local_provider.validate_spec(spec(model=str(tmp_path / "no-model")))
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(ConfigurationError, match=r"no config\.json"):
        local_provider.validate_spec(spec(model=str(tmp_path / "empty-dir")))
    with pytest.raises(ConfigurationError, match="multiple of 2"):
        local_provider.validate_spec(
            spec(hyperparameters=Hyperparameters(batch_size=3), options={"nproc_per_node": 2})
        )
    with pytest.raises(NotFoundError, match="anytune upload"):
        local_provider.validate_spec(spec(training_file="file-unknown"))

    broken = tmp_path / "broken.jsonl"
    broken.write_text(train_file.read_text().splitlines()[0] + "\n{not json\n")
    broken_id = local_provider.upload_file(broken).id
    with pytest.raises(DatasetError) as bad:
        local_provider.create_job(spec(training_file=broken_id))
    assert bad.value.problems == [
        "broken.jsonl:2: not valid JSON (Expecting property name enclosed in double quotes "
        "at column 2); each line must be one JSON object"
    ]
    assert local_provider.list_jobs() == [], "a rejected spec creates no job"


def test_a_file_of_the_wrong_shape_fails_the_job_in_validation(
    local_provider: LocalProvider, tiny_model: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "completion": "there"}\n{"messages": []}\n')
    file_id = local_provider.upload_file(bad).id
    job = local_provider.create_job(
        JobSpec(
            model=str(tiny_model),
            training_file=file_id,
            integrations=({"type": "wandb", "wandb": {"project": "p"}},),
        )
    )

    final = wait_until(local_provider, job.id, lambda j: j.is_terminal, timeout=60)

    assert final.status == JobStatus.FAILED
    assert final.error is not None and final.error.code == "invalid_training_file"
    # the core's rules (those `anytune validate` applies), worded as validate words them
    assert "bad.jsonl:1: prompt/completion is the legacy format" in final.error.message
    assert "bad.jsonl:2: messages is empty" in final.error.message
    assert "anytune validate" in final.error.message
    events = local_provider.list_events(job.id)
    assert events[-1].level == "error"
    assert [e.message for e in events if e.level == "warn"] == [
        "Integrations are not supported by the local provider and are ignored: wandb."
    ]


def test_state_errors_and_unknown_ids(local_provider: LocalProvider) -> None:
    store = local_provider.store
    spec = json.dumps({"model": "m", "training_file": "file-x", "options": {}})
    store.insert_job("ftjob-done", model="m", spec=spec, status="succeeded")
    store.insert_job("ftjob-broke", model="m", spec=spec, status="failed")
    store.update_job("ftjob-broke", error_code="invalid_model", error_message="no model")

    with pytest.raises(ConflictError, match="already succeeded"):
        local_provider.cancel_job("ftjob-done")
    with pytest.raises(ConflictError, match="only queued or running"):
        local_provider.pause_job("ftjob-done")
    with pytest.raises(ConflictError, match="invalid_model"):
        local_provider.resume_job("ftjob-broke")
    with pytest.raises(NotFoundError):
        local_provider.get_job("ftjob-nope")
    with pytest.raises(NotFoundError):
        local_provider.list_events("ftjob-nope")
    with pytest.raises(NotFoundError, match="ftevent-"):  # an unknown cursor, never "all"
        local_provider.list_events("ftjob-done", after="evt_123")
    other = local_provider.store.add_event("ftjob-broke", "an event of another job")
    with pytest.raises(NotFoundError, match="not an event of job ftjob-done"):
        local_provider.list_events("ftjob-done", after=other)
    job = local_provider.get_job("ftjob-broke")
    assert job.error is not None and job.error.code == "invalid_model"


def test_status_listing_and_events_load_no_ml_library(
    local_provider: LocalProvider, local_home: Path
) -> None:
    spec = json.dumps({"model": "m", "training_file": "file-x", "options": {}})
    local_provider.store.insert_job("ftjob-a", model="m", spec=spec, status="succeeded")
    script = (
        "import sys\n"
        "from anytune_local.provider import LocalProvider\n"
        "p = LocalProvider(home=sys.argv[1])\n"
        "p.get_job('ftjob-a'); p.list_jobs(); p.list_events('ftjob-a')\n"
        "p.list_checkpoints('ftjob-a'); p.dataset_rules(None)\n"
        "heavy = {'torch', 'transformers', 'peft', 'trl', 'bitsandbytes'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(local_home)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_dataset_rules_count_with_the_models_own_tokenizer(
    local_provider: LocalProvider, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = local_provider.dataset_rules(str(tiny_model))
    assert rules.max_tokens_per_example == 2048 and rules.price is None
    assert rules.methods == frozenset({"supervised", "dpo"})
    assert rules.auto_epochs is not None and rules.auto_epochs(1000) == 3
    counter = rules.token_counter
    assert counter is not None and counter.exact
    short = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    }
    long = {"messages": [short["messages"][0], {"role": "assistant", "content": "yo " * 50}]}
    assert 0 < counter.count(short) < counter.count(long)
    with pytest.raises(ConfigurationError, match="HF_HUB_OFFLINE is set"):
        local_provider.dataset_rules("org/hub-model")  # offline and not in the cache
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert local_provider.dataset_rules("org/hub-model").token_counter is None


def test_cli_make_tiny_model_worker_log_and_gc(
    tmp_path: Path, local_provider: LocalProvider, train_file: Path
) -> None:
    runner = CliRunner()
    target = tmp_path / "tiny"
    made = runner.invoke(cli, ["local", "make-tiny-model", str(target), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["path"] == str(target)
    assert (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file()

    again = runner.invoke(cli, ["local", "make-tiny-model", str(target)])
    assert again.exit_code == 1 and "not empty" in again.output

    missing = runner.invoke(cli, ["local", "worker-log", "ftjob-nope"])
    assert missing.exit_code == 1 and "no worker log" in missing.output
    assert "Traceback" not in missing.output

    uploaded = local_provider.upload_file(train_file)
    home = str(local_provider.home)
    dry = runner.invoke(cli, ["local", "gc", "--home", home, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["files"] == [uploaded.id]
    assert local_provider.get_file(uploaded.id)
    done = runner.invoke(cli, ["local", "gc", "--home", home, "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout)["freed_bytes"] > 0
    with pytest.raises(NotFoundError):
        local_provider.get_file(uploaded.id)


def test_provider_is_found_by_name_with_home_as_connection_option(tmp_path: Path) -> None:
    from anytune import registry

    provider = registry.create("local", home=str(tmp_path / "h"))
    assert isinstance(provider, LocalProvider)
    assert provider.home == tmp_path / "h"
    assert LocalProvider.connection_options == ("home",)
    default = LocalProvider()
    assert default.home == Path(os.environ["ANYTUNE_HOME"]) / "local"


def test_quick_shape_check_knows_chat_and_dpo_records(tmp_path: Path) -> None:
    from anytune_local.validation import check_file

    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    dpo = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "hello"}],
        "non_preferred_output": [{"role": "assistant", "content": "go away"}],
    }
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (chat, dpo, [1], chat)) + "\n")

    examples, problems = check_file(path, "mixed.jsonl", "supervised")
    assert examples == 2
    assert problems[0].startswith("mixed.jsonl:2: this is a DPO example, but the job is supervised")
    assert problems[1].startswith("mixed.jsonl:3: expected a JSON object, got list")

    examples, problems = check_file(path, "mixed.jsonl", "dpo")
    assert examples == 1
    assert problems[0].startswith("mixed.jsonl:1: this is a chat example, but the job is DPO")
