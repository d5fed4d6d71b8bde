"""Dataset tools: streaming JSONL reading, format rules, statistics, conversion.

::

    from anytune.dataset import validate_file, prepare_file

    report = validate_file("train.jsonl", validation_path="valid.jsonl")
    print("\\n".join(report.format()))
    report.raise_for_errors()

The names below are imported on first use, so ``import anytune.dataset.reader`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anytune.dataset.prepare import PrepareResult, prepare_file
    from anytune.dataset.report import CostEstimate, FileStats, Overlap, Problem, ValidationReport
    from anytune.dataset.rules import check_example
    from anytune.dataset.tokens import EstimateTokenCounter, estimate_tokens
    from anytune.dataset.validate import validate_file, validate_for_provider

_EXPORTS = {
    "CostEstimate": "anytune.dataset.report",
    "EstimateTokenCounter": "anytune.dataset.tokens",
    "FileStats": "anytune.dataset.report",
    "Overlap": "anytune.dataset.report",
    "PrepareResult": "anytune.dataset.prepare",
    "Problem": "anytune.dataset.report",
    "ValidationReport": "anytune.dataset.report",
    "check_example": "anytune.dataset.rules",
    "estimate_tokens": "anytune.dataset.tokens",
    "prepare_file": "anytune.dataset.prepare",
    "validate_file": "anytune.dataset.validate",
    "validate_for_provider": "anytune.dataset.validate",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'anytune.dataset' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CostEstimate",
    "EstimateTokenCounter",
    "FileStats",
    "Overlap",
    "PrepareResult",
    "Problem",
    "ValidationReport",
    "check_example",
    "estimate_tokens",
    "prepare_file",
    "validate_file",
    "validate_for_provider",
]
