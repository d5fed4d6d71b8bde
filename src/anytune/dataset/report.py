"""What ``validate_file`` finds: problems, statistics and the cost estimate, as data (for
code and ``--json``) and as text (for people)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from anytune.errors import DatasetError

PAIRS_KEPT = 10
"""How many example line pairs (duplicates, overlaps) a report keeps."""


class Problem(str):
    """One thing wrong with a file. It *is* its text, ``file:line: message`` (``file:
    message`` for whole-file problems, when ``line`` is None), so it can be printed or joined
    directly; the parts are attributes."""

    file: str
    line: int | None
    message: str

    def __new__(cls, file: str, line: int | None, message: str) -> Problem:
        where = file if line is None else f"{file}:{line}"
        self = super().__new__(cls, f"{where}: {message}")
        self.file, self.line, self.message = file, line, message
        return self

    def __getnewargs__(self) -> tuple[str, int | None, str]:  # type: ignore[override]
        return (self.file, self.line, self.message)

    def __repr__(self) -> str:
        return f"Problem({self.file!r}, {self.line!r}, {self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass
class FileStats:
    """Statistics of one JSONL file. Token figures cover the examples without errors."""

    path: str
    bytes: int = 0
    examples: int = 0
    """Non-blank lines."""
    invalid_examples: int = 0
    """Lines with at least one error."""
    chat_examples: int = 0
    dpo_examples: int = 0
    messages: int = 0
    tokens_total: int = 0
    tokens_min: int | None = None
    tokens_max: int | None = None
    counted_examples: int = 0
    """Examples whose tokens were counted (the valid ones)."""
    billable_tokens: int = 0
    """Σ min(limit, tokens): what one epoch processes after truncation."""
    truncated: int = 0
    duplicates: int = 0
    """Examples identical to an earlier example in the same file."""
    duplicate_pairs: list[tuple[int, int]] = field(default_factory=list)
    """(first line, duplicate line), the first few."""
    missing_system: int = 0

    @property
    def tokens_mean(self) -> float | None:
        return self.tokens_total / self.counted_examples if self.counted_examples else None

    @property
    def format(self) -> str:
        """ "chat", "dpo", "mixed" or "empty"."""
        if self.chat_examples and self.dpo_examples:
            return "mixed"
        if self.dpo_examples:
            return "dpo"
        return "chat" if self.chat_examples else "empty"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["duplicate_pairs"] = [list(p) for p in self.duplicate_pairs]
        mean = self.tokens_mean
        data["tokens_mean"] = round(mean, 1) if mean is not None else None
        data["format"] = self.format
        return data


@dataclass
class Overlap:
    """Validation examples that also appear in the training file (contamination)."""

    examples: int = 0
    """Validation examples identical to a training example."""
    pairs: list[tuple[int, int]] = field(default_factory=list)
    """(train line, validation line), the first few."""
    prompts: int = 0
    """Validation examples whose prompt (everything before the last assistant reply) appears
    in the training file with a different reply."""
    prompt_pairs: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "pairs": [list(p) for p in self.pairs],
            "prompts": self.prompts,
            "prompt_pairs": [list(p) for p in self.prompt_pairs],
        }


@dataclass(frozen=True)
class CostEstimate:
    """Billed training tokens and, with a price, dollars."""

    epochs: int
    epochs_how: str
    """How the epoch count was chosen, e.g. "--n-epochs 3" or "auto: 3 epochs for 120 examples"."""
    tokens_per_epoch: int
    billed_tokens: int
    tokens_exact: bool
    usd: float | None = None
    usd_per_million_tokens: float | None = None
    price_as_of: str | None = None
    price_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ValidationReport:
    """Everything ``validate_file`` found. ``ok`` is True when the file can be used."""

    method: str
    train: FileStats
    validation: FileStats | None = None
    overlap: Overlap | None = None
    errors: list[Problem] = field(default_factory=list)
    """The first problems found (see ``error_count`` for how many in all)."""
    warnings: list[Problem] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    tokens_exact: bool = False
    token_counter: str = ""
    max_tokens_per_example: int | None = None
    min_examples: int = 1
    cost: CostEstimate | None = None
    provider: str | None = None
    model: str | None = None
    notes: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    """Hints about whether fine-tuning fits the data (never errors; ``anytune.dataset.advice``)."""

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def raise_for_errors(self) -> None:
        """Raise ``DatasetError`` (problems as ``file:line: what``) unless ``ok``."""
        if self.ok:
            return
        shown = [str(p) for p in self.errors]
        if self.error_count > len(shown):
            shown.append(f"... and {self.error_count - len(shown)} more")
        raise DatasetError(
            f"{self.train.path}: {_count(self.error_count, 'problem')} make"
            + ("s" if self.error_count == 1 else "")
            + " the data unusable",
            problems=shown,
            hint=f"run `anytune validate {self.train.path}` for the full report",
            provider=self.provider,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stable ``--json`` shape: ok, errors, warnings, stats, cost."""
        return {
            "ok": self.ok,
            "method": self.method,
            "provider": self.provider,
            "model": self.model,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
            "stats": {
                "train": self.train.to_dict(),
                "validation": self.validation.to_dict() if self.validation else None,
                "overlap": self.overlap.to_dict() if self.overlap else None,
                "tokens": {
                    "exact": self.tokens_exact,
                    "counter": self.token_counter,
                    "max_per_example": self.max_tokens_per_example,
                },
                "min_examples": self.min_examples,
            },
            "cost": self.cost.to_dict() if self.cost else None,
            "notes": list(self.notes),
            "advice": list(self.advice),
        }

    def summary_line(self) -> str:
        """One line for progress output, e.g. "120 examples, 45,210 tokens (estimate), ok"."""
        stats = self.train
        parts = [f"{stats.examples:,} examples", f"{stats.tokens_total:,} tokens"]
        if not self.tokens_exact:
            parts[-1] += " (estimate)"
        if self.cost is not None:
            # "billed" only where there is a price (a local job is trained, not billed).
            verb = "billed" if self.cost.usd is not None else "trained"
            billed = f"{self.cost.billed_tokens:,} {verb} over {_count(self.cost.epochs, 'epoch')}"
            if self.cost.usd is not None:
                billed += f" (about ${self.cost.usd:,.2f})"
            parts.append(billed)
        if self.warning_count:
            parts.append(_count(self.warning_count, "warning"))
        parts.append("ok" if self.ok else _count(self.error_count, "error"))
        return ", ".join(parts)

    def format(self, *, max_problems: int = 50) -> list[str]:
        """Human-readable report lines, at most ``max_problems`` errors and warnings each."""
        return _format(self, max_problems)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _n(value: int | float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _pairs(pairs: list[tuple[int, int]], left: str, right: str, sep: str) -> str:
    return ", ".join(f"{left}:{a} {sep} {right}:{b}" for a, b in pairs)


def _problems(title: str, problems: list[Problem], count: int, limit: int) -> list[str]:
    if not count:
        return []
    lines = [f"{title} ({count}):"]
    lines += [f"  {p}" for p in problems[:limit]]
    if count > min(limit, len(problems)):
        lines.append(f"  ... and {count - min(limit, len(problems))} more")
    return lines


def _token_label(report: ValidationReport) -> str:
    what = "exact" if report.tokens_exact else "estimate"
    counter = report.token_counter
    # Descriptions often say it already ("o200k_base (exact)"): never say it twice.
    return counter if what in counter.lower() else f"{what}: {counter}"


def _file_lines(stats: FileStats, label: str, report: ValidationReport) -> list[str]:
    kinds = {
        "chat": "chat examples",
        "dpo": "DPO preference examples",
        "mixed": "examples (mixed chat and DPO)",
        "empty": "examples",
    }
    lines = [
        f"{label} {stats.path}: {_n(stats.examples)} {kinds[stats.format]}, "
        f"{_n(stats.messages)} messages, {_n(stats.bytes)} bytes"
        + (f", {_n(stats.invalid_examples)} with errors" if stats.invalid_examples else "")
    ]
    if stats.counted_examples:
        lines.append(
            f"  tokens ({_token_label(report)}): total {_n(stats.tokens_total)}; "
            f"per example min {_n(stats.tokens_min)} / mean {_n(stats.tokens_mean)} / "
            f"max {_n(stats.tokens_max)}"
        )
    if report.max_tokens_per_example is not None:
        lines.append(
            f"  over the {_n(report.max_tokens_per_example)}-token limit (truncated): "
            f"{_n(stats.truncated)}"
        )
    dup = f"  duplicate examples: {_n(stats.duplicates)}"
    if stats.duplicate_pairs:
        dup += (
            " (" + ", ".join(f"line {b} repeats line {a}" for a, b in stats.duplicate_pairs) + ")"
        )
    lines.append(dup)
    lines.append(f"  examples without a system message: {_n(stats.missing_system)}")
    return lines


def _format(report: ValidationReport, limit: int) -> list[str]:
    lines: list[str] = []
    target = f" for {report.provider}" if report.provider else ""
    if report.provider and report.model:
        target += f" {report.model}"
    lines.append(f"Checked{target} (method {report.method}).")
    lines += _file_lines(report.train, "Training file", report)
    if report.validation is not None:
        lines += _file_lines(report.validation, "Validation file", report)
    if report.overlap is not None:
        ov = report.overlap
        text = f"  identical examples in both files (contamination): {_n(ov.examples)}"
        if ov.pairs:
            text += " (" + _pairs(ov.pairs, "train", "valid", "~") + ")"
        lines.append(text)
        text = f"  same prompt in both files, different reply: {_n(ov.prompts)}"
        if ov.prompt_pairs:
            text += " (" + _pairs(ov.prompt_pairs, "train", "valid", "~") + ")"
        lines.append(text)
    cost = report.cost
    if cost is not None:
        what = "" if cost.tokens_exact else " (estimate)"
        text = (
            f"Training tokens{what}: {_n(cost.tokens_per_epoch)} per epoch x "
            f"{_count(cost.epochs, 'epoch')} ({cost.epochs_how}) = {_n(cost.billed_tokens)} "
            + ("billed tokens" if cost.usd is not None else "trained tokens")
        )
        if cost.usd is not None and cost.usd_per_million_tokens is not None:
            text += (
                f"; about ${cost.usd:,.2f} at ${cost.usd_per_million_tokens:,.2f} per 1M tokens"
                f" (price as of {cost.price_as_of}"
                + (f", {cost.price_source}" if cost.price_source else "")
                + ")"
            )
        lines.append(text)
    lines += [f"Note: {note}" for note in report.notes]
    lines += [f"Advice: {hint}" for hint in report.advice]
    lines += _problems("Errors", report.errors, report.error_count, limit)
    lines += _problems("Warnings", report.warnings, report.warning_count, limit)
    if report.ok:
        suffix = f" ({_count(report.warning_count, 'warning')})" if report.warning_count else ""
        lines.append(f"OK: the data is usable{suffix}.")
    else:
        lines.append(
            f"NOT USABLE: {_count(report.error_count, 'error')}; fix "
            f"{'it' if report.error_count == 1 else 'them'} and run again."
        )
    return lines


__all__ = ["PAIRS_KEPT", "CostEstimate", "FileStats", "Overlap", "Problem", "ValidationReport"]
