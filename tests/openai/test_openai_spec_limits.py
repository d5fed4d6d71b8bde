"""Issue 10 item 7 on the openai side: what OpenAI would refuse (or fail the job for) is
refused by ``validate_spec`` before any upload or request, with a message that says what
to do; and the limits are the ones in OpenAI's OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anytune_openai import OpenAIProvider
from anytune_openai import _spec as limits
from anytune_openai._convert import MAX_METADATA_PAIRS, MAX_SUFFIX
from anytune_openai.testing import FakeOpenAIServer
from openai_openapi import SPEC

from anytune.errors import InvalidArgumentError
from anytune.types import Hyperparameters, JobSpec

MODEL = "gpt-4o-mini-2024-07-18"

BAD: dict[str, dict[str, Any]] = {
    "seed -1": {"seed": -1},
    "seed 2**31": {"seed": 2_147_483_648},
    "suffix 65 chars": {"suffix": "s" * 65},
    "empty suffix": {"suffix": ""},
    "16 metadata pairs": {"metadata": {f"k{i}": "v" for i in range(16)}},
    "metadata key 65": {"metadata": {"k" * 65: "v"}},
    "metadata value 513": {"metadata": {"k": "v" * 513}},
    "metadata value a dict": {"metadata": {"k": {"nested": 1}}},
    "n_epochs 60": {"hyperparameters": Hyperparameters(n_epochs=60)},
    "n_epochs 0": {"hyperparameters": Hyperparameters(n_epochs=0)},
    "batch_size 257": {"hyperparameters": Hyperparameters(batch_size=257)},
    "lr multiplier 0": {"hyperparameters": Hyperparameters(learning_rate_multiplier=0)},
    "beta 2.5": {"method": "dpo", "hyperparameters": Hyperparameters(beta=2.5)},
    "beta without dpo": {"hyperparameters": Hyperparameters(beta=0.1)},
    "integration without project": {"integrations": ({"type": "wandb", "wandb": {}},)},
    "integration of another kind": {"integrations": ({"type": "mlflow"},)},
    "wandb_entity without project": {"options": {"wandb_entity": "team"}},
}


@pytest.mark.parametrize("fields", BAD.values(), ids=BAD.keys())
def test_refused_before_any_request(
    provider: OpenAIProvider, server: FakeOpenAIServer, fields: dict[str, Any]
) -> None:
    spec = JobSpec(model=MODEL, training_file="file-not-uploaded-yet", **fields)
    with pytest.raises(InvalidArgumentError) as info:
        provider.validate_spec(spec, check_files=False)  # what run/create check before upload
    assert info.value.hint or "must be" in str(info.value)  # says what to do
    with pytest.raises(InvalidArgumentError):
        provider.create_job(spec)
    assert server.count() == 0  # nothing was sent, not even the create


def test_metadata_message_says_anytune_uses_one_pair(provider: OpenAIProvider) -> None:
    spec = JobSpec(model=MODEL, training_file="f", metadata={f"k{i}": "v" for i in range(16)})
    with pytest.raises(InvalidArgumentError, match="anytune uses one") as info:
        provider.validate_spec(spec, check_files=False)
    assert "at most 15" in str(info.value)


GOOD: dict[str, dict[str, Any]] = {
    "seed 0": {"seed": 0},
    "seed max": {"seed": 2_147_483_647},
    "suffix 64": {"suffix": "s" * 64},
    "15 pairs": {"metadata": {f"k{i}": "v" for i in range(15)}},
    "15 pairs and our own id": {
        "metadata": {**{f"k{i}": "v" for i in range(15)}, "anytune_request_id": "r1"}
    },
    "key 64 value 512": {"metadata": {"k" * 64: "v" * 512}},
    "edges": {"hyperparameters": Hyperparameters(n_epochs=50, batch_size=256)},
    "beta 2": {"method": "dpo", "hyperparameters": Hyperparameters(beta=2)},
}


@pytest.mark.parametrize("fields", GOOD.values(), ids=GOOD.keys())
def test_values_at_the_limits_are_accepted(
    provider: OpenAIProvider, fields: dict[str, Any]
) -> None:
    provider.validate_spec(JobSpec(model=MODEL, training_file="f", **fields), check_files=False)


@pytest.mark.skipif(not SPEC.is_file(), reason=f"{SPEC} is not on this machine")
def test_the_limits_are_the_openapi_documents() -> None:
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    request = schemas["CreateFineTuningJobRequest"]["properties"]
    assert request["seed"]["minimum"] == 0 and request["seed"]["maximum"] == limits.SEED_MAX
    assert request["suffix"]["minLength"] == 1
    assert request["suffix"]["maxLength"] == MAX_SUFFIX
    metadata = schemas["Metadata"]["anyOf"][0]["description"]
    assert f"Set of {MAX_METADATA_PAIRS} key-value pairs" in metadata
    assert f"maximum length of {limits.MAX_METADATA_KEY} characters" in metadata
    assert f"maximum length of {limits.MAX_METADATA_VALUE} characters" in metadata

    def number(schema: dict[str, Any]) -> dict[str, Any]:
        (found,) = [s for s in schema["oneOf"] if s.get("type") in ("integer", "number")]
        return dict(found)

    for kind, names in (
        (
            "FineTuneSupervisedHyperparameters",
            ["n_epochs", "batch_size", "learning_rate_multiplier"],
        ),
        (
            "FineTuneDPOHyperparameters",
            ["n_epochs", "batch_size", "learning_rate_multiplier", "beta"],
        ),
    ):
        for name in names:
            documented = number(schemas[kind]["properties"][name])
            ours = getattr(limits.LIMITS, name)
            exclusive = "exclusiveMinimum" in documented
            assert ours.exclusive_min == exclusive, name
            assert ours.minimum == documented.get("exclusiveMinimum", documented.get("minimum"))
            assert ours.maximum == documented.get("maximum"), name
    assert OpenAIProvider.hyperparameter_limits == limits.LIMITS
