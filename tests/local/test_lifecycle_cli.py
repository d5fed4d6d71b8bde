"""A local job's whole life through the real ``anytune`` command, every step a separate
process: create returns at once, the worker outlives it, status moves queued -> running ->
succeeded, events carry step metrics and validation loss, and the adapter loads with peft."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from jobhelp import anytune_cli, cli_json

from anytune.testing.data import write_chat_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli_job(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict[str, Any]:
    """One job driven only through the CLI; what each command printed."""
    work = tmp_path_factory.mktemp("cli-job")
    env = dict(os.environ, ANYTUNE_HOME=str(work / "home"))
    env.pop("ANYTUNE_PROVIDER", None)
    train = write_chat_jsonl(work / "train.jsonl", 12)
    valid = write_chat_jsonl(work / "valid.jsonl", 4, system=False)
    created = cli_json(
        "create",
        "--provider", "local",
        "--model", str(tiny_model),
        "--training-file", str(train),
        "--validation-file", str(valid),
        "--seed", "7",
        "-o", "max_steps=4",
        "-o", "save_steps=2",
        "-o", "eval_steps=2",
        "-o", "logging_steps=1",
        "-o", "lora_r=4",
        "-o", "merge=true",
        env=env,
    )  # fmt: skip
    job_id = created["id"]
    statuses = [created["status"]]
    deadline = time.monotonic() + 180
    while statuses[-1] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job stuck in {statuses[-1]}"
        status = cli_json("status", job_id, env=env)["status"]
        if status != statuses[-1]:
            statuses.append(status)
        time.sleep(0.5)
    waited = anytune_cli("wait", job_id, "--json", env=env)
    return {
        "env": env,
        "created": created,
        "statuses": statuses,
        "wait": waited,
        "events": cli_json("events", job_id, env=env),
        "checkpoints": cli_json("checkpoints", job_id, env=env),
        "listed": cli_json("list", "--provider", "local", env=env),
        "log": anytune_cli("local", "worker-log", job_id, env=env),
    }


def test_create_returns_at_once_and_the_worker_outlives_it(cli_job: dict[str, Any]) -> None:
    created = cli_job["created"]
    assert created["id"].startswith("ftjob-")
    assert created["status"] == "validating_files"
    assert created["provider"] == "local"


def test_status_moves_through_the_hosted_lifecycle(cli_job: dict[str, Any]) -> None:
    statuses = cli_job["statuses"]
    assert statuses[0] == "validating_files"
    assert statuses[-1] == "succeeded", cli_job["log"].stdout
    order = ["validating_files", "queued", "running", "succeeded"]
    assert "running" in statuses
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)


def test_wait_reports_the_adapter(cli_job: dict[str, Any]) -> None:
    result = cli_job["wait"]
    assert result.returncode == 0, result.stderr
    import json

    final = json.loads(result.stdout)
    assert final["status"] == "succeeded"
    assert final["trained_tokens"] > 0
    assert final["hyperparameters"]["n_epochs"] != "auto"  # resolved values are reported
    assert Path(final["fine_tuned_model"], "adapter_config.json").is_file()
    assert final["id"] in [j["id"] for j in cli_job["listed"]]


def test_events_have_step_metrics_and_validation_loss(cli_job: dict[str, Any]) -> None:
    events = cli_job["events"]
    ids = [int(e["id"].removeprefix("ftevent-")) for e in events]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    steps = [e["metrics"] for e in events if "train_loss" in e.get("metrics", {})]
    assert [m["step"] for m in steps] == [1, 2, 3, 4]
    assert all(m["total_steps"] == 4 for m in steps)
    assert all(m["tokens_per_second"] > 0 and "learning_rate" in m for m in steps)
    valid = [e["metrics"] for e in events if "valid_loss" in e.get("metrics", {})]
    assert [m["step"] for m in valid if "train_loss" not in m] == [2, 4]
    messages = [e["message"] for e in events]
    assert any(m.startswith("Files validated") for m in messages)
    assert any(m.startswith("Job started") for m in messages)
    assert messages[-1].startswith("Job succeeded")


def test_checkpoints_are_listed_in_step_order(cli_job: dict[str, Any]) -> None:
    checkpoints = cli_job["checkpoints"]
    assert [c["step"] for c in checkpoints] == [2, 4]
    assert all(Path(c["fine_tuned_model_checkpoint"]).is_dir() for c in checkpoints)


def test_adapter_loads_with_peft_and_merged_model_is_saved(cli_job: dict[str, Any]) -> None:
    import json

    from peft import AutoPeftModelForCausalLM

    adapter = Path(json.loads(cli_job["wait"].stdout)["fine_tuned_model"])
    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter))
    assert model.peft_config["default"].r == 4
    assert (adapter / "tokenizer_config.json").is_file() or (adapter / "tokenizer.json").is_file()
    job_dir = adapter.parent
    merged = [p for p in job_dir.rglob("config.json") if "checkpoint" not in str(p)]
    assert merged, f"merge=true saved no full model under {job_dir}"


def test_worker_log_command_prints_the_log(cli_job: dict[str, Any]) -> None:
    result = cli_job["log"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_adapter_carries_a_record_of_the_spec(cli_job: dict[str, Any]) -> None:
    import json

    final = json.loads(cli_job["wait"].stdout)
    record = json.loads(Path(final["fine_tuned_model"], "anytune_job.json").read_text())
    assert record["job_id"] == final["id"]
    assert record["spec"]["seed"] == 7
    assert record["spec"]["options"]["lora_r"] == 4
    assert record["resolved_hyperparameters"]["n_epochs"] == final["hyperparameters"]["n_epochs"]
