"""anytune: one training JSONL, any fine-tuning provider.

>>> from anytune import Client
>>> client = Client("local")  # or "openai", "azure", any installed provider  # doctest: +SKIP

Names are imported on first use so that ``import anytune`` (and the CLI) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Client": "anytune.client",
    "AsyncClient": "anytune.async_client",
    "wait": "anytune.polling",
    "Provider": "anytune.provider",
    "Capabilities": "anytune.provider",
    "DatasetRules": "anytune.provider",
    "OptionSpec": "anytune.provider",
    "HyperparameterLimits": "anytune.provider",
    "ValidatedSpec": "anytune.provider",
    "Checkpoint": "anytune.types",
    "Event": "anytune.types",
    "FileObject": "anytune.types",
    "Hyperparameters": "anytune.types",
    "Job": "anytune.types",
    "JobError": "anytune.types",
    "JobSpec": "anytune.types",
    "JobStatus": "anytune.types",
    "Metrics": "anytune.types",
    "ResolvedHyperparameters": "anytune.types",
    "AnytuneError": "anytune.errors",
    "ConfigurationError": "anytune.errors",
    "InvalidArgumentError": "anytune.errors",
    "NotFoundError": "anytune.errors",
    "UnsupportedOperationError": "anytune.errors",
    "JobCancelledError": "anytune.errors",
    "JobFailedError": "anytune.errors",
    "WaitTimeoutError": "anytune.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'anytune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from anytune.async_client import AsyncClient as AsyncClient
    from anytune.client import Client as Client
    from anytune.errors import AnytuneError as AnytuneError
    from anytune.errors import ConfigurationError as ConfigurationError
    from anytune.errors import InvalidArgumentError as InvalidArgumentError
    from anytune.errors import JobCancelledError as JobCancelledError
    from anytune.errors import JobFailedError as JobFailedError
    from anytune.errors import NotFoundError as NotFoundError
    from anytune.errors import UnsupportedOperationError as UnsupportedOperationError
    from anytune.errors import WaitTimeoutError as WaitTimeoutError
    from anytune.polling import wait as wait
    from anytune.provider import Capabilities as Capabilities
    from anytune.provider import DatasetRules as DatasetRules
    from anytune.provider import HyperparameterLimits as HyperparameterLimits
    from anytune.provider import OptionSpec as OptionSpec
    from anytune.provider import Provider as Provider
    from anytune.provider import ValidatedSpec as ValidatedSpec
    from anytune.types import Checkpoint as Checkpoint
    from anytune.types import Event as Event
    from anytune.types import FileObject as FileObject
    from anytune.types import Hyperparameters as Hyperparameters
    from anytune.types import Job as Job
    from anytune.types import JobError as JobError
    from anytune.types import JobSpec as JobSpec
    from anytune.types import JobStatus as JobStatus
    from anytune.types import Metrics as Metrics
    from anytune.types import ResolvedHyperparameters as ResolvedHyperparameters
