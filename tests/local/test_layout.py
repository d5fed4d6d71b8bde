"""How many training processes a job runs when ``nproc_per_node`` is not given
(``anytune_local.layout``): one per core for a small model on a CPU-only machine when the job
is long enough and the processes split its batch; one otherwise; the first choice is kept
for every later attempt of the job."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from anytune_local import layout
from anytune_local.options import OPTION_SPECS
from anytune_local.store import Store
from anytune_local.worker import Supervisor

from anytune.types import Hyperparameters

LINE = json.dumps(
    {"messages": [{"role": "user", "content": "hi " * 40}, {"role": "assistant", "content": "ok"}]}
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A training file of ~300 KiB (over ``MIN_WORK_BYTES`` for one epoch)."""
    path = tmp_path / "train.jsonl"
    count = layout.MIN_WORK_BYTES // len(LINE) + 200
    path.write_text("\n".join([LINE] * count) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "model.safetensors").write_bytes(b"\0" * 4096)
    return directory


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A CPU-only machine with 4 cores and plenty of memory, changeable per test."""
    facts: dict[str, Any] = {"cores": 4, "memory": 64 * 2**30, "gpu": False}
    monkeypatch.setattr(layout, "usable_cores", lambda: facts["cores"])
    monkeypatch.setattr(layout, "available_memory", lambda: facts["memory"])
    monkeypatch.setattr(layout, "gpu_visible", lambda: facts["gpu"])
    return facts


def request(data: Path, model: Path, batch_size: Any = 8, **options: Any) -> SimpleNamespace:
    resolved = {name: spec.default for name, spec in OPTION_SPECS.items()}
    resolved.update(options)
    method = resolved.pop("method", "supervised")
    return SimpleNamespace(
        options=resolved,
        method=method,
        base_model=str(model),
        train_path=data,
        hyperparameters=Hyperparameters(n_epochs=1, batch_size=batch_size),
    )


def test_a_small_model_on_the_cpu_gets_one_process_per_core(
    data: Path, model: Path, machine: dict[str, Any]
) -> None:
    chosen = layout.training_layout(request(data, model))
    assert chosen.processes == 4
    assert "per CPU core" in chosen.why
    machine["cores"] = 16
    assert layout.training_layout(request(data, model)).processes == 8  # MAX_PROCESSES


@pytest.mark.parametrize(
    ("batch_size", "accumulation", "expected"), [(6, 1, 3), (5, 1, 1), (8, 2, 4), (12, 3, 4)]
)
def test_the_count_splits_the_batch_so_hyperparameters_never_change(
    data: Path,
    model: Path,
    machine: dict[str, Any],
    batch_size: int,
    accumulation: int,
    expected: int,
) -> None:
    job = request(data, model, batch_size, gradient_accumulation_steps=accumulation)
    assert layout.training_layout(job).processes == expected


@pytest.mark.parametrize(
    "options",
    [
        {"nproc_per_node": 1},
        {"quantize": "4bit"},
        {"method": "dpo"},
        {"distributed": "fsdp"},
        {"max_steps": 2},  # too short to repay a second process's start
    ],
)
def test_one_process_where_more_would_not_pay_or_are_not_measured(
    data: Path, model: Path, machine: dict[str, Any], options: dict[str, Any]
) -> None:
    assert layout.training_layout(request(data, model, **options)) == layout.Layout(1, "")


def test_an_explicit_count_is_kept(data: Path, model: Path, machine: dict[str, Any]) -> None:
    assert layout.training_layout(request(data, model, nproc_per_node=3)).processes == 3


def test_one_process_on_a_gpu_for_a_big_model_or_a_short_file(
    tmp_path: Path, data: Path, model: Path, machine: dict[str, Any]
) -> None:
    machine["gpu"] = True
    assert layout.training_layout(request(data, model)).processes == 1
    machine["gpu"] = False
    short = tmp_path / "short.jsonl"
    short.write_text(LINE + "\n", encoding="utf-8")
    assert layout.training_layout(request(short, model)).processes == 1
    big = tmp_path / "big"
    big.mkdir()
    with (big / "model.safetensors").open("wb") as handle:
        handle.truncate(layout.MAX_WEIGHT_BYTES + 1)  # sparse: no disk used
    assert layout.training_layout(request(data, big)).processes == 1
    assert layout.training_layout(request(data, tmp_path / "missing")).processes == 1


def test_memory_bounds_the_count(data: Path, model: Path, machine: dict[str, Any]) -> None:
    per_process = 2 * 4096 + layout.PER_PROCESS_OVERHEAD
    machine["memory"] = 2 * 2 * per_process  # half of it holds two processes
    assert layout.training_layout(request(data, model)).processes == 2
    machine["memory"] = 3 * per_process
    assert layout.training_layout(request(data, model)).processes == 1


def test_no_gpu_is_visible_when_cuda_visible_devices_is_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert layout.gpu_visible() is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert layout.gpu_visible() is False


def test_a_hub_model_is_measured_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"\0" * 1000)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert layout.weight_bytes("org/tiny") == 1000
    assert layout.weight_bytes("org/other") is None


def test_examples_are_counted_across_blocks_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [("x" * 700_000) if i % 3 == 0 else "y" for i in range(10)]
    text = "\n\n".join(lines) + "\n  \n" + "last-without-newline"
    path.write_text(text, encoding="utf-8")
    assert layout._examples_and_bytes(path) == (11, len(text.encode()))


def test_a_job_keeps_its_first_choice_on_every_attempt(
    tmp_path: Path, data: Path, model: Path, machine: dict[str, Any]
) -> None:
    store = Store(tmp_path / "home")
    worker = Supervisor(store, "ftjob-0123456789abcdef01234567", attempt=0)
    worker.job_dir.mkdir(parents=True)
    assert worker._layout(request(data, model)) == (4, ", one per CPU core, a small model")
    machine["cores"] = 2  # the machine changed (or memory is short) before a resume
    later = Supervisor(store, "ftjob-0123456789abcdef01234567", attempt=1)
    assert later._layout(request(data, model))[0] == 4
