"""Evaluate fine-tuned models on any provider that can generate (``anytune eval``)."""

from __future__ import annotations

from anytune.evaluation.data import EvalExample, load_examples
from anytune.evaluation.metrics import exact_match, normalize, token_f1
from anytune.evaluation.report import EvalReport, ModelResult
from anytune.evaluation.runner import EvalProgress, check_overlap, evaluate, resolve

__all__ = [
    "EvalExample",
    "EvalProgress",
    "EvalReport",
    "ModelResult",
    "check_overlap",
    "evaluate",
    "exact_match",
    "load_examples",
    "normalize",
    "resolve",
    "token_f1",
]
