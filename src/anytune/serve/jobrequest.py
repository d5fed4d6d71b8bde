"""``POST /v1/fine_tuning/jobs``: the request body checked field by field, into a ``JobSpec``.

Checks follow OpenAI's API (the OpenAPI document's CreateFineTuningJobRequest and the limits
its descriptions state), with OpenAI's messages and ``param`` names, so a bad request fails
here with a 400 before anything reaches the provider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from anytune.serve.errors import APIError, invalid, unknown_arguments
from anytune.spec import HyperparameterLimits
from anytune.types import Hyperparameters

FIELDS = frozenset(
    {
        "model",
        "training_file",
        "validation_file",
        "hyperparameters",
        "suffix",
        "seed",
        "method",
        "metadata",
        "integrations",
    }
)
_HYPER_FIELDS = {
    "supervised": ("batch_size", "learning_rate_multiplier", "n_epochs"),
    "dpo": ("beta", "batch_size", "learning_rate_multiplier", "n_epochs"),
}
MAX_SUFFIX = 64
MAX_METADATA = 16
_SUFFIX = re.compile(r"^[A-Za-z0-9_.-]+$")


def _string(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"Missing required parameter: '{name}'.", param=name)
        return None
    if not isinstance(value, str) or not value:
        raise invalid(
            f"Invalid type for '{name}': expected a non-empty string, but got {type(value).__name__}.",
            param=name,
        )
    return value


def _hyperparameters(
    value: Any, method: str, param: str, limits: HyperparameterLimits
) -> Hyperparameters:
    if value is None:
        return Hyperparameters()
    if not isinstance(value, Mapping):
        raise invalid(f"Invalid type for '{param}': expected an object.", param=param)
    allowed = _HYPER_FIELDS[method]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise invalid(
            f"Unrecognized hyperparameter(s) for method '{method}': {', '.join(unknown)} "
            f"(valid: {', '.join(allowed)})",
            param=f"{param}.{unknown[0]}",
        )
    for name, item in value.items():
        # Field by field, so the error names OpenAI's param; the ranges are the provider's.
        try:
            limits.check(Hyperparameters.from_dict({name: item}))
        except (TypeError, ValueError) as exc:
            raise invalid(
                f"Invalid value for '{param}.{name}': {exc}", param=f"{param}.{name}"
            ) from None
    return Hyperparameters.from_dict({k: v for k, v in value.items() if v is not None})


def parse_method(
    body: Mapping[str, Any], limits: HyperparameterLimits
) -> tuple[str, Hyperparameters]:
    """The method and its hyperparameters, from ``method`` or the deprecated top level."""
    method_body = body.get("method")
    legacy = body.get("hyperparameters")
    if method_body is None:
        return "supervised", _hyperparameters(legacy, "supervised", "hyperparameters", limits)
    if not isinstance(method_body, Mapping):
        raise invalid("Invalid type for 'method': expected an object.", param="method")
    kind = method_body.get("type")
    if kind not in ("supervised", "dpo", "reinforcement"):
        raise invalid(
            f"Invalid value for 'method.type': {kind!r} is not one of 'supervised', 'dpo', "
            "'reinforcement'.",
            param="method.type",
        )
    if kind == "reinforcement":
        raise invalid(
            "Reinforcement fine-tuning is not supported by anytune serve; use 'supervised' or "
            "'dpo'.",
            param="method.type",
        )
    unknown = sorted(set(method_body) - {"type", kind})
    if unknown:
        raise unknown_arguments([f"method.{name}" for name in unknown])
    if legacy is not None:
        raise invalid(
            "Specify hyperparameters in 'method' only, not also in the deprecated top-level "
            "'hyperparameters'.",
            param="hyperparameters",
        )
    inner = method_body.get(kind) or {}
    if not isinstance(inner, Mapping):
        raise invalid(
            f"Invalid type for 'method.{kind}': expected an object.", param=f"method.{kind}"
        )
    extra = sorted(set(inner) - {"hyperparameters"})
    if extra:
        raise unknown_arguments([f"method.{kind}.{name}" for name in extra])
    param = f"method.{kind}.hyperparameters"
    return kind, _hyperparameters(inner.get("hyperparameters"), kind, param, limits)


def check_create(body: Any, limits: HyperparameterLimits) -> dict[str, Any]:
    """The checked fields of a create request (a plain dict, stored with the job)."""
    if not isinstance(body, Mapping):
        raise invalid("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise unknown_arguments(unknown)
    model = _string(body, "model", required=True)
    training = _string(body, "training_file", required=True)
    validation = _string(body, "validation_file")
    suffix = _string(body, "suffix")
    if suffix is not None and (len(suffix) > MAX_SUFFIX or not _SUFFIX.match(suffix)):
        raise invalid(
            f"Invalid 'suffix': at most {MAX_SUFFIX} characters of letters, digits, '-', '_' "
            "and '.'.",
            param="suffix",
        )
    seed = body.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2147483647
    ):
        raise invalid("Invalid 'seed': expected an integer from 0 to 2147483647.", param="seed")
    metadata = _metadata(body.get("metadata"))
    integrations = body.get("integrations")
    if integrations is not None and (
        not isinstance(integrations, list)
        or len(integrations) > 5
        or not all(isinstance(i, Mapping) and i.get("type") == "wandb" for i in integrations)
    ):
        raise invalid(
            "Invalid 'integrations': a list of at most 5 objects of type 'wandb'.",
            param="integrations",
        )
    method, hyperparameters = parse_method(body, limits)
    if method == "dpo" and hyperparameters.beta is None:
        hyperparameters = Hyperparameters(
            n_epochs=hyperparameters.n_epochs,
            batch_size=hyperparameters.batch_size,
            learning_rate_multiplier=hyperparameters.learning_rate_multiplier,
            beta="auto",
        )
    return {
        "model": model,
        "training_file": training,
        "validation_file": validation,
        "suffix": suffix,
        "seed": seed,
        "metadata": metadata,
        "integrations": [dict(i) for i in integrations or []],
        "method": method,
        "hyperparameters": hyperparameters.to_dict(),
    }


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > MAX_METADATA:
        raise invalid(
            f"Invalid 'metadata': an object of at most {MAX_METADATA} string pairs.",
            param="metadata",
        )
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 64 or len(item) > 512:
            raise invalid(
                "Invalid 'metadata': keys are strings of at most 64 characters and values "
                "strings of at most 512.",
                param="metadata",
            )
    return dict(value)


def metadata_filter(query: Mapping[str, str]) -> dict[str, str] | None:
    """``metadata[k]=v`` query parameters (deepObject style) as a dict."""
    found: dict[str, str] = {}
    for name, value in query.items():
        if name.startswith("metadata[") and name.endswith("]"):
            found[name[len("metadata[") : -1]] = value
    return found or None


def positive_limit(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid(
            f"Invalid 'limit': expected an integer, got {value!r}.", param="limit"
        ) from None
    if not 1 <= number <= maximum:
        raise invalid(f"Invalid 'limit': must be between 1 and {maximum}.", param="limit")
    return number


__all__ = ["APIError", "check_create", "metadata_filter", "positive_limit"]
