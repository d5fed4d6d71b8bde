"""The checks ``anytune validate`` shares with creating a job: the method and ``n_epochs``
of the billed-token estimate, and the job's provider options, checked by the provider's own
``validate_spec`` (the one owner of those rules) rather than by a copy of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from anytune.errors import InvalidArgumentError
from anytune.provider import Provider
from anytune.spec import HyperparameterLimits
from anytune.types import Hyperparameters, JobSpec

METHODS = ("supervised", "dpo")


def check_arguments(
    method: str, n_epochs: int | str | None, limits: HyperparameterLimits | None = None
) -> None:
    """The same checks as creating a job: n_epochs within the provider's range."""
    if method not in METHODS:
        raise InvalidArgumentError(
            f"unknown method {method!r}", hint=f"use one of {', '.join(METHODS)}"
        )
    if n_epochs != "auto" and (isinstance(n_epochs, bool) or not isinstance(n_epochs, int)):
        raise InvalidArgumentError(f"n_epochs must be a whole number or 'auto', got {n_epochs!r}")
    epochs: int | Literal["auto"] = "auto" if n_epochs in (None, "auto") else int(n_epochs)
    (limits or HyperparameterLimits()).check(Hyperparameters(n_epochs=epochs))


def check_job_options(
    provider: Provider,
    model: str | None,
    *,
    method: str,
    n_epochs: int | str | None,
    options: Mapping[str, Any],
) -> Mapping[str, Any]:
    """The job's options as ``create`` would accept them (the one owner of those rules is
    ``Provider.validate_spec``), or the ``InvalidArgumentError`` create would raise."""
    if not model:
        raise InvalidArgumentError(
            f"options are checked as creating a {provider.name} job checks them, which "
            "depends on the model",
            hint="add --model MODEL (the model the job will train)",
            provider=provider.name,
        )
    epochs: int | Literal["auto"] = (
        int(n_epochs) if isinstance(n_epochs, int) and not isinstance(n_epochs, bool) else "auto"
    )
    spec = JobSpec(
        model=model,
        training_file="",  # not uploaded: validate_spec(check_files=False) checks the rest
        method=method,
        hyperparameters=Hyperparameters(n_epochs=epochs),
        options=options,
    )
    return provider.validate_spec(spec, check_files=False).options


__all__ = ["METHODS", "check_arguments", "check_job_options"]
