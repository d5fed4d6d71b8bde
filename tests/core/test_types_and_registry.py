from __future__ import annotations

import json
import subprocess
import sys

import pytest

from anytune import registry
from anytune.errors import (
    ConfigurationError,
    InvalidArgumentError,
    ProviderNotFoundError,
    ProviderNotInstalledError,
)
from anytune.provider import OptionSpec, validate_options
from anytune.types import Event, Hyperparameters, Job, JobSpec, JobStatus, Metrics


def test_unknown_status_is_kept_not_a_crash() -> None:
    job = Job(id="j", provider="p", model="m", status="deploying", created_at=1, training_file="f")
    assert job.status == "deploying"
    assert not job.is_terminal
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))).status == "deploying"
    known = Job(id="j", provider="p", model="m", status="paused", created_at=1, training_file="f")
    assert known.status is JobStatus.PAUSED


def test_job_round_trips_through_json() -> None:
    job = Job.from_dict(
        {
            "id": "j",
            "provider": "p",
            "model": "m",
            "status": "failed",
            "created_at": 1,
            "training_file": "f",
            "hyperparameters": {"n_epochs": 3, "batch_size": "auto"},
            "error": {"code": "invalid_file", "message": "line 3"},
            "unknown_vendor_field": 1,
        }
    )
    assert job.error is not None and str(job.error) == "invalid_file: line 3"
    assert Job.from_dict(job.to_dict()) == job


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_epochs": 2.5}, "whole number"),
        ({"n_epochs": "many"}, "number or 'auto'"),
        ({"n_epochs": "3"}, "the string '3'"),
        ({"batch_size": True}, "whole number or 'auto'"),
        ({"learning_rate_multiplier": "high"}, "number or 'auto'"),
    ],
)
def test_hyperparameter_kinds_are_checked_with_a_typed_error(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as info:
        Hyperparameters(**values)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)  # callers that caught ValueError still do
    assert info.value.exit_code == 2


def test_unknown_hyperparameter_names_the_valid_ones_and_points_to_options() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Hyperparameters.from_dict({"epochs": 3})
    text = str(info.value)
    assert "epochs" in text and "options" in text
    assert "n_epochs, batch_size, learning_rate_multiplier, beta" in text


def test_job_spec_method_is_open_and_hyperparameters_may_be_a_mapping() -> None:
    spec = JobSpec(model="m", training_file="f", method="orpo", hyperparameters={"n_epochs": 2})  # type: ignore[arg-type]
    assert spec.method == "orpo"
    assert spec.hyperparameters == Hyperparameters(n_epochs=2)
    with pytest.raises(InvalidArgumentError, match="method must be a non-empty string"):
        JobSpec(model="m", training_file="f", method="")


def test_event_metrics_keep_vendor_extras() -> None:
    event = Event.from_dict(
        {
            "id": "e",
            "created_at": 1,
            "level": "info",
            "message": "m",
            "metrics": {"step": 3, "train_loss": 0.5, "train_mean_token_accuracy": 0.9},
        }
    )
    assert event.metrics == Metrics(
        step=3, train_loss=0.5, extra={"train_mean_token_accuracy": 0.9}
    )


def test_options_are_coerced_and_unknown_ones_name_the_valid_ones() -> None:
    specs = {
        "lora_r": OptionSpec(int, 16),
        "quantize": OptionSpec(str, "none", choices=("none", "4bit")),
        "targets": OptionSpec(list, None),
        "merge": OptionSpec(bool, False),
    }
    assert validate_options("x", specs, {"lora_r": "8", "targets": "q,v", "merge": "yes"}) == {
        "lora_r": 8,
        "targets": ["q", "v"],
        "merge": True,
    }
    with pytest.raises(ConfigurationError, match="lora_r, merge, quantize, targets"):
        validate_options("x", specs, {"rank": 1})
    with pytest.raises(ConfigurationError, match="not one of"):
        validate_options("x", specs, {"quantize": "3bit"})
    with pytest.raises(ConfigurationError, match="not a valid int"):
        validate_options("x", specs, {"lora_r": "eight"})


def test_missing_distribution_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_entry_points", lambda: {})
    with pytest.raises(ProviderNotInstalledError) as info:
        registry.provider_class("openai")
    assert "pip install anytune-openai" in str(info.value)
    for name in ("together", "fireworks", "ray"):
        with pytest.raises(ProviderNotInstalledError, match=f"pip install anytune-{name}"):
            registry.provider_class(name)
    with pytest.raises(
        ProviderNotFoundError,
        match="known providers: azure, fireworks, local, openai, ray, together",
    ):
        registry.provider_class("nope")


def test_importing_anytune_is_light() -> None:
    code = (
        "import sys, anytune; from anytune import Client, Job;"
        "heavy = [m for m in ('torch', 'transformers', 'openai', 'httpx', 'tiktoken', 'peft', 'trl')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_exported() -> None:
    import anytune

    for name in anytune.__all__:
        assert getattr(anytune, name) is not None
