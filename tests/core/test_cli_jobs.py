"""The job commands, in-process against the memory provider, through the same entry point
that the console script uses (errors → messages and exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anytune.cli import cli
from anytune.testing import write_chat_jsonl


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", 12)


def create_job(train: Path, *extra: str) -> dict[str, object]:
    result = invoke("create", "-p", "memory", "-m", "base", "-t", str(train), "--json", *extra)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_create_uploads_a_path_and_records_the_job(train: Path) -> None:
    job = create_job(train, "--n-epochs", "2", "--suffix", "demo", "--metadata", "team=a")
    assert job["status"] == "validating_files"
    assert str(job["training_file"]).startswith("file-")
    assert job["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    assert job["metadata"] == {"team": "a"}
    listed = invoke("list", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == [job["id"]]
    assert json.loads(listed.stdout)[0]["provider"] == "memory"


def test_status_and_wait_find_the_provider_from_the_index(train: Path) -> None:
    job = create_job(train)
    status = invoke("status", str(job["id"]), "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["id"] == job["id"]
    waited = invoke("wait", str(job["id"]), "--json", "--interval", "0")
    assert waited.exit_code == 0, waited.output
    final = json.loads(waited.stdout)
    assert final["status"] == "succeeded"
    assert final["fine_tuned_model"].startswith("ft:base:")
    # progress went to stderr as plain lines (not a TTY)
    assert "Step 3/3" in waited.stderr
    assert "succeeded" in waited.stderr


def test_wait_exit_codes_failed_and_cancelled(train: Path) -> None:
    failing = create_job(train, "-o", "fail=invalid_training_file")
    result = invoke("wait", str(failing["id"]), "--interval", "0")
    assert result.exit_code == 1
    assert "invalid_training_file" in result.stderr
    assert "Traceback" not in result.output

    cancelled = create_job(train)
    assert invoke("cancel", str(cancelled["id"])).exit_code == 0
    result = invoke("wait", str(cancelled["id"]), "--interval", "0", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_wait_timeout_exits_124(train: Path) -> None:
    job = create_job(train, "-o", "steps=1000")
    result = invoke("wait", str(job["id"]), "--interval", "0.01", "--timeout", "0.2")
    assert result.exit_code == 124
    assert "did not finish within" in result.stderr


def test_events_are_oldest_first_and_after_is_exclusive(train: Path) -> None:
    job = create_job(train)
    invoke("wait", str(job["id"]), "--interval", "0", "-q")
    events = json.loads(invoke("events", str(job["id"]), "--json").stdout)
    assert events[0]["message"].startswith("Validating")
    assert events[-1]["message"].startswith("The job has successfully completed")
    steps = [e["metrics"]["step"] for e in events if "metrics" in e]
    assert steps == [1, 2, 3]
    later = json.loads(
        invoke("events", str(job["id"]), "--after", events[1]["id"], "--json").stdout
    )
    assert [e["id"] for e in later] == [e["id"] for e in events[2:]]


def test_events_follow_streams_json_lines_until_the_end(train: Path) -> None:
    job = create_job(train)
    result = invoke("events", str(job["id"]), "--follow", "--json", "--interval", "0")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["message"].startswith("The job has successfully completed")
    assert len({e["id"] for e in lines}) == len(lines)


def test_checkpoints_pause_resume(train: Path) -> None:
    job = create_job(train)
    job_id = str(job["id"])
    assert invoke("pause", job_id).exit_code == 0
    assert json.loads(invoke("status", job_id, "--json").stdout)["status"] == "paused"
    resumed = invoke("resume", job_id, "--json")
    assert json.loads(resumed.stdout)["status"] == "running"
    assert invoke("pause", job_id).exit_code == 0
    assert json.loads(invoke("status", job_id, "--json").stdout)["status"] == "paused"
    said = invoke("resume", job_id)
    assert said.exit_code == 0 and said.stdout.strip().endswith("running")
    assert "Job resumed" in said.stderr, "resume says what the provider resumed from"
    invoke("wait", job_id, "--interval", "0", "-q")
    ckpts = json.loads(invoke("checkpoints", job_id, "--json").stdout)
    assert [c["step"] for c in ckpts] == [1, 2, 3]


def test_unknown_job_without_provider_says_what_to_do() -> None:
    result = invoke("status", "ftjob-nope")
    assert result.exit_code == 1
    assert "not in anytune's local index" in result.stderr
    assert "--provider" in result.stderr


def test_unknown_provider_lists_known_ones(train: Path) -> None:
    result = invoke("upload", str(train), "-p", "nosuch")
    assert result.exit_code == 1
    assert "unknown provider 'nosuch'" in result.stderr
    assert "memory" in result.stderr and "local" in result.stderr


def test_unknown_option_names_valid_ones(train: Path) -> None:
    result = invoke("create", "-p", "memory", "-m", "b", "-t", str(train), "-o", "lora_rank=8")
    assert result.exit_code == 2  # a usage mistake
    assert "lora_rank" in result.stderr and "checkpoint_every" in result.stderr


def test_bad_hyperparameter_is_a_usage_error(train: Path) -> None:
    result = invoke("create", "-p", "memory", "-m", "b", "-t", str(train), "--n-epochs", "0")
    assert result.exit_code == 2
    assert "n_epochs must be >= 1" in result.output


def test_missing_provider_is_a_usage_error(train: Path) -> None:
    result = invoke("upload", str(train))
    assert result.exit_code == 2
    assert "ANYTUNE_PROVIDER" in result.output


def test_provider_from_environment(train: Path) -> None:
    result = invoke("upload", str(train), "--json", env={"ANYTUNE_PROVIDER": "memory"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bytes"] == train.stat().st_size


def test_providers_lists_and_describes() -> None:
    listed = json.loads(invoke("providers", "--json").stdout)
    assert "memory" in listed["installed"]
    described = json.loads(invoke("providers", "memory", "--json").stdout)
    assert described["capabilities"]["pause_resume"] is True
    assert described["options"]["steps"]["type"] == "int"
