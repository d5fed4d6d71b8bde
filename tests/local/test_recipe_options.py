"""The local provider's options and its documented rule for "auto" hyperparameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from anytune_local.options import OPTION_SPECS, auto_batch_size, auto_epochs, resolve_auto

from anytune.errors import ConfigurationError
from anytune.provider import validate_options
from anytune.types import Hyperparameters


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [
        (1, 25),
        (3, 25),
        (10, 10),
        (20, 5),
        (33, 4),
        (34, 3),
        (1000, 3),
        (8333, 3),
        (8334, 2),
        (30000, 1),
    ],
)
def test_auto_epochs_follow_openais_heuristic(examples: int, epochs: int) -> None:
    assert auto_epochs(examples) == epochs


@pytest.mark.parametrize(
    ("examples", "batch_size"),
    [(10, 1), (63, 1), (64, 2), (100, 2), (300, 8), (511, 8), (512, 16), (100_000, 16)],
)
def test_auto_batch_size(examples: int, batch_size: int) -> None:
    assert auto_batch_size(examples) == batch_size


def test_resolve_auto_fills_only_auto_values() -> None:
    resolved = resolve_auto(300, Hyperparameters(n_epochs=2, learning_rate_multiplier=5))
    assert resolved == {
        "n_epochs": 2,
        "batch_size": 8,
        "learning_rate_multiplier": 5.0,
        "learning_rate": pytest.approx(1e-3),
    }
    dpo = resolve_auto(10, Hyperparameters(), method="dpo")
    assert dpo["beta"] == 0.1 and dpo["batch_size"] == 1
    assert resolve_auto(10, Hyperparameters(beta=0.5), method="dpo")["beta"] == 0.5


def test_auto_batch_size_is_a_multiple_of_processes_and_accumulation() -> None:
    assert resolve_auto(10, Hyperparameters(), processes=2)["batch_size"] == 2
    assert resolve_auto(300, Hyperparameters(), processes=3)["batch_size"] == 9
    assert (
        resolve_auto(300, Hyperparameters(), processes=2, gradient_accumulation_steps=4)[
            "batch_size"
        ]
        == 8
    )
    assert (
        resolve_auto(300, Hyperparameters(batch_size=5), processes=2)["batch_size"] == 5
    )  # as asked


def test_options_validate_and_coerce_cli_strings() -> None:
    options = validate_options(
        "local",
        OPTION_SPECS,
        {
            "lora_r": "8",
            "modules_to_save": "embed_tokens,lm_head",
            "quantize": "4bit",
            "merge": "true",
        },
    )
    assert options == {
        "lora_r": 8,
        "modules_to_save": ["embed_tokens", "lm_head"],
        "quantize": "4bit",
        "merge": True,
    }
    with pytest.raises(ConfigurationError, match="quantize"):
        validate_options("local", OPTION_SPECS, {"quantize": "2bit"})
    with pytest.raises(ConfigurationError, match="unknown option"):
        validate_options("local", OPTION_SPECS, {"lora_rank": 8})


def test_options_module_is_light() -> None:
    code = "import sys, anytune_local.options, anytune_local.recipe; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_train_request_is_typed_once_and_round_trips_through_json(tmp_path: Path) -> None:
    from anytune_local.recipe import TrainRequest

    from anytune.errors import InvalidArgumentError
    from anytune.options import ProviderOptions

    request = TrainRequest(
        job_id="ftjob-1",
        base_model="m",
        method="supervised",
        train_path=tmp_path / "t.jsonl",
        valid_path=None,
        output_dir=tmp_path / "out",
        checkpoint_dir=tmp_path / "ckpt",
        hyperparameters={"n_epochs": 2},
        options={"lora_r": "8"},  # as it comes from the command line
    )
    assert isinstance(request.hyperparameters, Hyperparameters)
    assert request.hyperparameters.n_epochs == 2
    assert isinstance(request.options, ProviderOptions)
    assert request.options.get_int("lora_r") == 8
    assert set(request.options) == set(OPTION_SPECS), "every option, defaults filled in once"
    again = TrainRequest.from_json(request.to_json())
    assert again.options.to_dict() == request.options.to_dict()
    assert again.hyperparameters == request.hyperparameters
    with pytest.raises(InvalidArgumentError, match="lora_rr"):
        TrainRequest(**{**vars(request), "options": {"lora_rr": 8}})
