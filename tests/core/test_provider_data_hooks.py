"""The provider hooks `validate` and the check before upload share with `create` (issue 15,
items 1, 2, 3, 6): the provider's file check, options checked by ``validate_spec`` itself,
per-model hyperparameter limits, and ``dataset_rules(..., options=)``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result

from anytune import registry
from anytune.cli import cli
from anytune.dataset.report import Problem
from anytune.dataset.validate import validate_for_provider
from anytune.errors import InvalidArgumentError
from anytune.provider import DatasetRules, OptionSpec, TokenCounter
from anytune.spec import HyperparameterLimits, Limit, ValidatedSpec
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.types import JobSpec


class Words(TokenCounter):
    exact = True
    description = "words"

    def count(self, example: Mapping[str, Any]) -> int:
        return sum(len(str(m["content"]).split()) for m in example["messages"])


class Hooked(InMemoryProvider):
    """A provider with every data hook: a file check, a model-dependent option refusal,
    rules that read an option, and limits that depend on the model."""

    name = "hooked"
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        **InMemoryProvider.option_specs,
        "max_length": OptionSpec(int, 6, "words per example"),
        "alpha": OptionSpec(int, None, "refused, as Fireworks refuses lora_alpha"),
    }
    checked: ClassVar[list[tuple[str, str]]] = []

    def check_spec(self, spec: ValidatedSpec) -> None:
        if "alpha" in spec.options.explicit:
            raise InvalidArgumentError("hooked does not let a job set alpha", hint="drop it")

    def hyperparameter_limits_for(self, model: str | None) -> HyperparameterLimits:
        if model == "small":
            return HyperparameterLimits(n_epochs=Limit(1, 2))
        return self.hyperparameter_limits

    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        return DatasetRules(
            max_tokens_per_example=int((options or {}).get("max_length") or 6),
            token_counter=Words(),
            methods=self.capabilities.methods,
        )

    def check_dataset(self, path: Path, *, method: str = "supervised") -> list[Problem]:
        Hooked.checked.append((Path(path).name, method))
        problems = []
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if "awful" in line:
                problems.append(Problem(str(path), number, "hooked refuses awful food"))
        return problems


@pytest.fixture(autouse=True)
def hooked() -> Iterator[None]:
    registry.register("hooked", Hooked)
    Hooked.checked.clear()
    yield
    registry.unregister("hooked")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def nice(path: Path, n: int = 4) -> Path:
    """Chat examples with no "awful" line."""
    lines = [
        json.dumps({"messages": [{"role": "user", "content": f"q {i}"}, ex_answer(i)]})
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def ex_answer(i: int) -> dict[str, str]:
    return {"role": "assistant", "content": f"a {i} " + "word " * 6}


# -- item 6: options are part of dataset_rules' contract ----------------------------------
def test_the_check_before_upload_hands_the_jobs_options_to_the_rules(tmp_path: Path) -> None:
    train = nice(tmp_path / "train.jsonl")
    # Each example has 10 words; the default max_length (6) truncates every one.
    short = invoke("create", "-p", "hooked", "-m", "m", "-t", str(train))
    assert short.exit_code == 0, short.output
    assert "4 warnings" in short.stderr
    long = invoke("create", "-p", "hooked", "-m", "m", "-t", str(train), "-o", "max_length=50")
    assert long.exit_code == 0, long.output
    assert "warning" not in long.stderr, long.stderr


def test_validate_hands_typed_options_with_defaults_to_the_rules(tmp_path: Path) -> None:
    seen: list[Mapping[str, Any] | None] = []

    class Recording(Hooked):
        def dataset_rules(self, model: str | None, **kwargs: Any) -> DatasetRules:
            seen.append(kwargs.get("options"))
            return super().dataset_rules(model, **kwargs)

    report = validate_for_provider(
        nice(tmp_path / "t.jsonl"), Recording(), "m", options={"max_length": "50"}
    )
    assert report.ok and report.train.truncated == 0
    assert seen[0] is not None and seen[0]["max_length"] == 50 and seen[0]["steps"] == 3


# -- item 2: validate -o checks options exactly as create does ----------------------------
def test_validate_refuses_an_option_create_refuses(tmp_path: Path) -> None:
    train = nice(tmp_path / "train.jsonl")
    created = invoke("create", "-p", "hooked", "-m", "m", "-t", str(train), "-o", "alpha=4")
    assert created.exit_code == 2 and "does not let a job set alpha" in created.stderr
    validated = invoke("validate", str(train), "-p", "hooked", "-m", "m", "-o", "alpha=4")
    assert validated.exit_code == 2, validated.output
    assert "does not let a job set alpha" in validated.stderr
    assert "Traceback" not in validated.output


# -- item 1: the provider's file check ----------------------------------------------------
def test_validate_reports_the_providers_file_check_as_file_line(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)  # lines 2 and 8 are "awful"
    valid = write_chat_jsonl(tmp_path / "valid.jsonl", 2)
    result = invoke("validate", str(train), "-v", str(valid), "-p", "hooked")
    assert result.exit_code == 1, result.output
    assert f"{train}:2: hooked refuses awful food" in result.stdout
    assert f"{train}:8: hooked refuses awful food" in result.stdout
    assert f"{valid}:2: hooked refuses awful food" in result.stdout
    assert Hooked.checked == [("train.jsonl", "supervised"), ("valid.jsonl", "supervised")]
    assert validate_for_provider(nice(tmp_path / "ok.jsonl"), Hooked(), None).ok


def test_the_check_before_upload_runs_the_providers_file_check(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    for command in (
        ("upload", str(train), "-p", "hooked"),
        ("create", "-p", "hooked", "-m", "m", "-t", str(train)),
    ):
        result = invoke(*command)
        assert result.exit_code == 1, result.output
        assert "nothing was uploaded" in result.stderr
        assert f"{train}:2: hooked refuses awful food" in result.stderr
    assert Hooked().list_files() == []


# -- item 3: hyperparameter limits depend on the model ------------------------------------
def test_limits_for_the_model_apply_to_create_and_validate(tmp_path: Path) -> None:
    train = nice(tmp_path / "train.jsonl")
    provider = Hooked()
    with pytest.raises(InvalidArgumentError, match="n_epochs must be >= 1 and <= 2"):
        provider.validate_spec(
            JobSpec(model="small", training_file="", hyperparameters={"n_epochs": 3}),
            check_files=False,
        )
    provider.validate_spec(
        JobSpec(model="big", training_file="", hyperparameters={"n_epochs": 3}), check_files=False
    )
    refused = invoke("validate", str(train), "-p", "hooked", "-m", "small", "--n-epochs", "3")
    assert refused.exit_code == 2 and "n_epochs must be >= 1 and <= 2" in refused.stderr
    fine = invoke("validate", str(train), "-p", "hooked", "-m", "big", "--n-epochs", "3")
    assert fine.exit_code == 0, fine.output
