"""The provider contract validates a spec once, in the base class, and hands the provider a
typed spec; every mistake is an InvalidArgumentError naming the valid choices."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from anytune import Client, registry
from anytune.errors import InvalidArgumentError, NotFoundError
from anytune.provider import (
    Capabilities,
    HyperparameterLimits,
    Limit,
    OptionSpec,
    ValidatedSpec,
)
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.testing.memory import MemoryStore
from anytune.types import Hyperparameters, Job, JobSpec


class RecordingProvider(InMemoryProvider):
    """The memory provider, counting hook calls and keeping what submit_job received."""

    name: ClassVar[str] = "recording"
    capabilities: ClassVar[Capabilities] = Capabilities(
        methods=frozenset({"supervised", "dpo", "orpo"})
    )
    hyperparameter_limits: ClassVar[HyperparameterLimits] = HyperparameterLimits(
        n_epochs=Limit(1, 10)
    )
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        **InMemoryProvider.option_specs,
        "targets": OptionSpec(list, ["all"], "modules"),
        "merge": OptionSpec(bool, False, "merge the adapter"),
    }

    def __init__(self) -> None:
        super().__init__(store=MemoryStore())
        self.checks = 0
        self.file_checks = 0
        self.submitted: list[ValidatedSpec] = []

    def check_spec(self, spec: ValidatedSpec) -> None:
        self.checks += 1

    def check_files(self, spec: ValidatedSpec) -> None:
        self.file_checks += 1
        super().check_files(spec)

    def submit_job(self, spec: ValidatedSpec) -> Job:
        self.submitted.append(spec)
        return super().submit_job(spec)


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def file_id(provider: RecordingProvider, tmp_path: Path) -> str:
    return provider.upload_file(write_chat_jsonl(tmp_path / "t.jsonl")).id


def test_create_validates_once_and_hands_a_typed_spec(
    provider: RecordingProvider, file_id: str
) -> None:
    client = Client(provider, index=False)
    client.jobs.create(
        model="m", training_file=file_id, options={"steps": "2", "merge": "yes"}, method="orpo"
    )
    assert (provider.checks, provider.file_checks) == (1, 1)
    [spec] = provider.submitted
    assert isinstance(spec, ValidatedSpec) and spec.provider == "recording"
    assert spec.method == "orpo"  # any method the provider declares
    # coerced, and every declared option present with its default
    assert spec.options.get_int("steps") == 2
    assert spec.options.get_bool("merge") is True
    assert spec.options.get_list("targets") == ["all"]
    assert spec.options.explicit == {"steps", "merge"}
    assert isinstance(spec.hyperparameters, Hyperparameters)
    with pytest.raises(KeyError):
        spec.options.get_int("stepz")  # a typo in provider code is loud, not None


def test_an_already_validated_spec_is_not_validated_again(
    provider: RecordingProvider, file_id: str
) -> None:
    validated = provider.validate_spec(JobSpec(model="m", training_file=file_id))
    provider.create_job(validated)
    assert (provider.checks, provider.file_checks) == (1, 1)
    # a spec checked without its files gets the file check at create time
    early = provider.validate_spec(JobSpec(model="m", training_file=file_id), check_files=False)
    assert provider.file_checks == 1
    provider.create_job(early)
    assert (provider.checks, provider.file_checks) == (3, 2)  # validated again, files too


def test_validation_without_files_checks_everything_else(provider: RecordingProvider) -> None:
    spec = JobSpec(model="m", training_file="not-uploaded-yet")
    assert provider.validate_spec(spec, check_files=False).training_file == "not-uploaded-yet"
    with pytest.raises(NotFoundError):
        provider.validate_spec(spec)
    with pytest.raises(InvalidArgumentError, match="unknown option"):
        provider.validate_spec(
            JobSpec(model="m", training_file="x", options={"stepz": 1}), check_files=False
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hyperparameters": {"epochs": 3}}, "valid hyperparameters: n_epochs"),
        ({"hyperparameters": {"n_epochs": "3"}}, "the string '3'"),
        ({"hyperparameters": {"n_epochs": 11}}, r"n_epochs must be >= 1 and <= 10"),
        ({"hyperparameters": {"n_epochs": 0}}, r"n_epochs must be >= 1 and <= 10"),
        ({"hyperparameters": {"batch_size": 300}}, r"batch_size must be >= 1 and <= 256"),
        ({"hyperparameters": {"learning_rate_multiplier": 0}}, r"must be > 0"),
        ({"hyperparameters": {"beta": 0.1}}, "beta is a DPO hyperparameter"),
        ({"method": "dpo", "hyperparameters": {"beta": 3}}, r"beta must be > 0 and <= 2"),
        ({"method": "sft"}, "supported methods: dpo, orpo, supervised"),
        ({"options": {"stepz": 1}}, "valid options for recording: checkpoint_every, fail"),
        ({"options": {"steps": "many"}}, "not a valid int"),
        ({"seed": "7"}, "seed must be a whole number"),
    ],
)
def test_every_mistake_is_a_typed_error_naming_the_choices(
    provider: RecordingProvider, file_id: str, kwargs: dict[str, Any], message: str
) -> None:
    client = Client(provider, index=False)
    with pytest.raises(InvalidArgumentError, match=message) as info:
        client.jobs.create(model="m", training_file=file_id, **kwargs)
    assert info.value.exit_code == 2
    assert provider.submitted == []  # nothing was created


def test_default_limits_are_openais(file_id: str) -> None:
    memory = InMemoryProvider(store=MemoryStore())
    with pytest.raises(InvalidArgumentError, match=r"n_epochs must be >= 1 and <= 50"):
        memory.validate_spec(
            JobSpec(model="m", training_file=file_id, hyperparameters=Hyperparameters(n_epochs=51)),
            check_files=False,
        )


def test_unknown_provider_setting_names_the_valid_ones() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Client("memory", hom="/tmp", index=False)
    assert "hom" in info.value.message
    assert info.value.hint is not None and "store" in info.value.hint
    with pytest.raises(InvalidArgumentError, match="provider's constructor"):
        Client(InMemoryProvider(), store=None, index=False)


def test_unknown_local_setting_names_home() -> None:
    pytest.importorskip("anytune_local")
    with pytest.raises(InvalidArgumentError) as info:
        registry.create("local", hom="/tmp/x")
    assert info.value.hint is not None and "home" in info.value.hint


def test_stored_spec_round_trips_typed(provider: RecordingProvider, file_id: str) -> None:
    validated = provider.validate_spec(
        JobSpec(model="m", training_file=file_id, options={"merge": "true"})
    )
    restored = provider.load_spec(validated.to_dict())
    assert restored == validated
    assert restored.options.explicit == {"merge"}
    assert restored.options.get_bool("merge") is True
