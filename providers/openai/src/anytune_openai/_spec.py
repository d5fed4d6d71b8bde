"""What OpenAI's create-job request accepts, checked before anything is uploaded or sent.

The ranges come from OpenAI's OpenAPI document (``CreateFineTuningJobRequest``): seed
0..2147483647, suffix 1-64 characters, n_epochs 1-50, batch_size 1-256,
learning_rate_multiplier > 0, beta in (0, 2]; metadata at most 16 pairs, keys up to 64 and
values up to 512 characters (stated in the document's description, not its schema), and
integrations of type "wandb" with a project. tests/openai checks these against the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anytune.errors import InvalidArgumentError
from anytune.spec import HyperparameterLimits, Limit
from anytune.types import JobSpec
from anytune_openai._convert import MAX_METADATA_PAIRS, MAX_SUFFIX, REQUEST_ID_KEY

SEED_MAX = 2_147_483_647
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512

LIMITS = HyperparameterLimits(
    n_epochs=Limit(1, 50),
    batch_size=Limit(1, 256),
    learning_rate_multiplier=Limit(0, None, exclusive_min=True),
    beta=Limit(0, 2, exclusive_min=True),
)
"""OpenAI's hyperparameter ranges (FineTuneSupervisedHyperparameters / FineTuneDPOHyperparameters)."""


def _bad(message: str, hint: str, provider: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, hint=hint, provider=provider)


def check_spec(spec: JobSpec, provider: str) -> None:
    """Raise ``InvalidArgumentError`` for the first thing OpenAI would refuse."""
    seed = spec.seed
    if seed is not None and not (0 <= seed <= SEED_MAX):
        raise _bad(
            f"seed {seed} is out of range: {provider} takes 0 to {SEED_MAX}",
            "pass --seed with a whole number in that range, or leave it out for a random one",
            provider,
        )
    if spec.suffix is not None and not (1 <= len(spec.suffix) <= MAX_SUFFIX):
        raise _bad(
            f"suffix {spec.suffix!r} is {len(spec.suffix)} characters; {provider} takes 1 to "
            f"{MAX_SUFFIX}",
            "use a shorter --suffix (or none)",
            provider,
        )
    check_metadata(spec.metadata, provider)
    check_integrations(spec.integrations, provider)
    check_wandb_options(spec.options, provider)


def check_metadata(metadata: Mapping[str, Any], provider: str) -> None:
    user_pairs = [k for k in metadata if k != REQUEST_ID_KEY]
    if len(user_pairs) > MAX_METADATA_PAIRS - 1:
        raise _bad(
            f"too many metadata pairs ({len(user_pairs)}): {provider} allows "
            f"{MAX_METADATA_PAIRS}, and anytune uses one ({REQUEST_ID_KEY}) to create each job "
            "exactly once",
            f"keep at most {MAX_METADATA_PAIRS - 1} metadata pairs",
            provider,
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise _bad(
                f"metadata key {key!r} is not a non-empty string",
                "metadata maps strings to strings",
                provider,
            )
        if len(key) > MAX_METADATA_KEY:
            raise _bad(
                f"metadata key {key[:20]!r}... is {len(key)} characters; {provider} allows "
                f"{MAX_METADATA_KEY}",
                "use a shorter key",
                provider,
            )
        if isinstance(value, (Mapping, list, tuple, set)) or value is None:
            raise _bad(
                f"metadata value of {key!r} is a {type(value).__name__}, not a string",
                "metadata values are strings (encode structured data yourself)",
                provider,
            )
        text = str(value)
        if len(text) > MAX_METADATA_VALUE:
            raise _bad(
                f"metadata value of {key!r} is {len(text)} characters; {provider} allows "
                f"{MAX_METADATA_VALUE}",
                "store long values elsewhere and put a reference in metadata",
                provider,
            )


def check_integrations(integrations: Any, provider: str) -> None:
    for integration in integrations:
        wandb = integration.get("wandb") if isinstance(integration, Mapping) else None
        if (
            not isinstance(integration, Mapping)
            or integration.get("type") != "wandb"
            or not isinstance(wandb, Mapping)
            or not isinstance(wandb.get("project"), str)
            or not wandb["project"]
        ):
            raise _bad(
                f"unsupported integration {integration!r}",
                'OpenAI accepts {"type": "wandb", "wandb": {"project": ...}} '
                "(or -o wandb_project=NAME)",
                provider,
            )
        tags = wandb.get("tags")
        if tags is not None and (
            not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags)
        ):
            raise _bad(
                f"wandb tags {tags!r} are not a list of strings", "e.g. ['a', 'b']", provider
            )


def check_wandb_options(options: Mapping[str, Any], provider: str) -> None:
    if not options.get("wandb_project") and any(
        options.get(k) for k in ("wandb_entity", "wandb_name", "wandb_tags")
    ):
        raise _bad(
            "wandb_entity, wandb_name and wandb_tags need wandb_project",
            "add -o wandb_project=NAME",
            provider,
        )
