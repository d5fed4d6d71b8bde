"""Validate training (and validation) JSONL files in one streaming pass each.

::

    from anytune.dataset.validate import validate_file
    report = validate_file("train.jsonl", validation_path="valid.jsonl")
    for line in report.format():
        print(line)
    report.raise_for_errors()          # DatasetError listing file:line problems

Memory stays nearly flat in the file size: lines are read one at a time and only a 64-bit
fingerprint and a line number are kept per distinct example (for duplicates and for the
train/validation overlap), in flat arrays of 20-45 bytes per example.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from anytune.dataset.advice import Advice
from anytune.dataset.cost import estimate_cost
from anytune.dataset.digests import DigestTable
from anytune.dataset.fingerprint import example_fingerprint, prompt_fingerprint
from anytune.dataset.provider_checks import METHODS, check_arguments, check_job_options
from anytune.dataset.reader import iter_lines
from anytune.dataset.report import (
    PAIRS_KEPT,
    FileStats,
    Overlap,
    Problem,
    ValidationReport,
)
from anytune.dataset.rules import CHAT, DPO, UNKNOWN, ExampleRefused, check_example
from anytune.dataset.sniff import delimited_format, sniff_method
from anytune.dataset.tokens import EstimateTokenCounter, estimate_tokens
from anytune.errors import DatasetError
from anytune.provider import DatasetRules, Provider, TokenCounter
from anytune.spec import HyperparameterLimits

DEFAULT_MAX_PROBLEMS = 1000


class _Problems:
    """Counts every problem; keeps the first ``limit`` line problems of each severity."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.error_count = 0
        self.warning_count = 0

    def error(self, file: str, line: int | None, message: str) -> None:
        self.error_count += 1
        if line is None or len(self.errors) < self.limit:
            self.errors.append(Problem(file, line, message))

    def warning(self, file: str, line: int | None, message: str) -> None:
        self.warning_count += 1
        if line is None or len(self.warnings) < self.limit:
            self.warnings.append(Problem(file, line, message))


class _Scan:
    """One pass over one file."""

    def __init__(
        self,
        path: Path,
        *,
        method: str,
        counter: TokenCounter,
        max_tokens: int | None,
        problems: _Problems,
        keep_prompts: bool,
    ) -> None:
        self.path = path
        self.name = str(path)
        self.expected = DPO if method == "dpo" else CHAT
        self.count: Callable[[Mapping[str, Any]], int] = (
            estimate_tokens if type(counter) is EstimateTokenCounter else counter.count
        )
        self.exact = counter.exact
        self.max_tokens = max_tokens
        self.problems = problems
        self.keep_prompts = keep_prompts
        self.stats = FileStats(self.name, bytes=path.stat().st_size)
        self.seen = DigestTable()
        """example fingerprint -> first line"""
        self.prompts = DigestTable()
        """prompt fingerprint -> first line (only when keep_prompts)"""
        self.mismatched = 0
        self.first_mismatch = 0
        self.advice = Advice()

    def run(self, against: _Scan | None = None, overlap: Overlap | None = None) -> None:
        stats, problems, name = self.stats, self.problems, self.name
        for raw in iter_lines(self.path):
            stats.examples += 1
            lineno = raw.lineno
            if raw.error is not None:
                stats.invalid_examples += 1
                problems.error(name, lineno, raw.error)
                continue
            record = raw.record
            check = check_example(record)
            kind = check.kind
            stats.messages += check.messages
            bad = bool(check.errors)
            for message in check.errors:
                problems.error(name, lineno, message)
            for message in check.warnings:
                problems.warning(name, lineno, message)
            if kind == CHAT:
                stats.chat_examples += 1
            elif kind == DPO:
                stats.dpo_examples += 1
            if kind != UNKNOWN:
                if not check.has_system:
                    stats.missing_system += 1
                if kind != self.expected:
                    self.mismatched += 1
                    self.first_mismatch = self.first_mismatch or lineno
                    bad = True
            if bad:
                stats.invalid_examples += 1
                continue
            if self._tokens(record, lineno):
                self._fingerprints(record, kind, lineno, against, overlap)
                if kind == CHAT:
                    self.advice.add(record, lineno)

    def _tokens(self, record: dict[str, Any], lineno: int) -> bool:
        """Count one valid example's tokens; False when the counter refused it."""
        stats = self.stats
        try:
            tokens = self.count(record)
        except Exception as exc:  # a tokenizer refusing a line is a problem with that line
            stats.invalid_examples += 1
            refused = isinstance(exc, ExampleRefused)  # the provider's own sentence
            self.problems.error(
                self.name, lineno, str(exc) if refused else f"tokens could not be counted: {exc}"
            )
            return False
        stats.counted_examples += 1
        stats.tokens_total += tokens
        if stats.tokens_min is None or tokens < stats.tokens_min:
            stats.tokens_min = tokens
        if stats.tokens_max is None or tokens > stats.tokens_max:
            stats.tokens_max = tokens
        limit = self.max_tokens
        if limit is not None and tokens > limit:
            stats.truncated += 1
            stats.billable_tokens += limit
            about = "" if self.exact else "about "
            self.problems.warning(
                self.name,
                lineno,
                f"{about}{tokens:,} tokens, over the limit of {limit:,} per example: the "
                "provider truncates it (shorten it or split it into several examples)",
            )
        else:
            stats.billable_tokens += tokens
        return True

    def _fingerprints(
        self,
        record: dict[str, Any],
        kind: str,
        lineno: int,
        against: _Scan | None,
        overlap: Overlap | None,
    ) -> None:
        digest = example_fingerprint(record)
        first = self.seen.setdefault(digest, lineno)
        if first != lineno:
            self.stats.duplicates += 1
            if len(self.stats.duplicate_pairs) < PAIRS_KEPT:
                self.stats.duplicate_pairs.append((first, lineno))
        if self.keep_prompts:
            self.prompts.setdefault(prompt_fingerprint(record, kind), lineno)
        if against is None or overlap is None:
            return
        train_line = against.seen.get(digest)
        if train_line is not None:
            overlap.examples += 1
            if len(overlap.pairs) < PAIRS_KEPT:
                overlap.pairs.append((train_line, lineno))
            return
        train_line = against.prompts.get(prompt_fingerprint(record, kind))
        if train_line is not None:
            overlap.prompts += 1
            if len(overlap.prompt_pairs) < PAIRS_KEPT:
                overlap.prompt_pairs.append((train_line, lineno))

    def file_problems(self, method: str) -> None:
        """Problems about the whole file, known only after the pass."""
        stats, name = self.stats, self.name
        if stats.examples == 0:
            self.problems.error(name, None, "no examples: the file is empty")
        delimited = delimited_format(self.path)
        if delimited and stats.chat_examples + stats.dpo_examples == 0:
            self.problems.error(
                name,
                None,
                f"looks like {delimited}, not JSONL: convert its records to chat examples with "
                f"`anytune prepare {name} -o train.jsonl` (see `anytune prepare --help`)",
            )
        if self.mismatched:
            line = self.first_mismatch
            more = f" ({self.mismatched} lines like it)" if self.mismatched > 1 else ""
            if method == "dpo":
                message = (
                    f"line {line} is a chat (supervised) example, but the method is dpo{more}; "
                    "use --method supervised, or give each line input, preferred_output and "
                    "non_preferred_output"
                )
            else:
                message = f"line {line} is a DPO preference example{more}; use --method dpo"
            self.problems.error(name, line, message)
        if stats.duplicates:
            pairs = ", ".join(f"line {b} repeats line {a}" for a, b in stats.duplicate_pairs[:3])
            more = ", ..." if stats.duplicates > 3 else ""
            self.problems.warning(
                name,
                None,
                f"{_count(stats.duplicates, 'duplicate example')} ({pairs}{more}); remove them "
                "unless you mean to give those examples more weight",
            )
        recognised = stats.chat_examples + stats.dpo_examples
        if 0 < stats.missing_system < recognised:
            self.problems.warning(
                name,
                None,
                f"{stats.missing_system:,} of {recognised:,} examples have no system message; "
                "use the same system message in training as you will at inference",
            )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _provider_problems(
    check: Callable[[Path], Sequence[Problem]] | None, path: Path, problems: _Problems
) -> None:
    for problem in check(path) if check is not None else ():
        problems.error(problem.file, problem.line, problem.message)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise DatasetError(f"{path}: no such file", hint="check the path")
    if not path.is_file():
        raise DatasetError(f"{path}: not a file", hint="give the path of a JSONL file")
    if not os.access(path, os.R_OK):
        raise DatasetError(f"{path}: not readable", hint="check the file's permissions")


def validate_file(
    path: str | Path,
    *,
    rules: DatasetRules | None = None,
    validation_path: str | Path | None = None,
    method: str = "supervised",
    n_epochs: int | str | None = "auto",
    provider: str | None = None,
    model: str | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    limits: HyperparameterLimits | None = None,
    provider_check: Callable[[Path], Sequence[Problem]] | None = None,
) -> ValidationReport:
    """Check a training file (and optionally a validation file) and gather statistics.

    ``rules`` are a provider's (``provider.dataset_rules(model, method=...)``); without them
    only the format is checked and tokens are estimated. ``n_epochs`` (a number, "auto" or
    None for auto) feeds the billed-token estimate. The validation file gets the same format
    and token rules, but not the minimum example count. ``provider`` / ``model`` only label
    the report; ``limits`` are the provider's hyperparameter ranges (``n_epochs`` is checked
    against them, as creating the job would); ``provider_check`` is the provider's own file
    check (``Provider.check_dataset``), run on each file after the shared checks. Every problem is counted; the first ``max_problems`` line problems of each
    severity are kept in the report. Raises ``DatasetError`` only when a file cannot be
    opened at all; everything else is in the report (``report.ok``, ``report.raise_for_errors()``).
    """
    if n_epochs is None:
        n_epochs = "auto"
    check_arguments(method, n_epochs, limits)
    train_path = Path(path)
    valid_path = Path(validation_path) if validation_path is not None else None
    for p in (train_path, valid_path):
        if p is not None:
            _check_path(p)
    counter = (rules.token_counter if rules else None) or EstimateTokenCounter()
    max_tokens = rules.max_tokens_per_example if rules else None
    problems = _Problems(max_problems)
    options: dict[str, Any] = {
        "method": method,
        "counter": counter,
        "max_tokens": max_tokens,
        "problems": problems,
    }
    train = _Scan(train_path, keep_prompts=valid_path is not None, **options)
    if rules is not None and method not in rules.methods:
        who = f"provider {provider!r}" if provider else "the provider"
        problems.error(
            train.name,
            None,
            f"{who} does not support method {method!r} (supported: {', '.join(sorted(rules.methods))})",
        )
    train.run()
    train.file_problems(method)
    _provider_problems(provider_check, train_path, problems)
    min_examples = rules.min_examples if rules else 1
    if 0 < train.stats.examples < min_examples:
        who = f"{provider} needs" if provider else "the provider needs"
        problems.error(
            train.name,
            None,
            f"{_count(train.stats.examples, 'example')}, but {who} at least {min_examples:,} "
            "(add more examples)",
        )
    report = ValidationReport(
        method=method,
        train=train.stats,
        tokens_exact=counter.exact,
        token_counter=counter.description or type(counter).__name__,
        max_tokens_per_example=max_tokens,
        min_examples=min_examples,
        provider=provider,
        model=model,
        notes=list(rules.notes) if rules else [],
    )
    if valid_path is not None:
        valid = _Scan(valid_path, keep_prompts=False, **options)
        report.overlap = Overlap()
        valid.run(against=train, overlap=report.overlap)
        valid.file_problems(method)
        _provider_problems(provider_check, valid_path, problems)
        report.validation = valid.stats
        if report.overlap.examples:
            problems.warning(
                valid.name,
                None,
                f"{_count(report.overlap.examples, 'validation example')} also in the training "
                "file, so validation loss overstates quality (remove them from one file)",
            )
    report.advice = train.advice.hints()
    report.cost, note = estimate_cost(train.stats, rules, n_epochs, counter.exact, provider)
    if note:
        report.notes.append(note)
    order = {train.name: 0}
    report.errors = sorted(problems.errors, key=lambda p: (order.get(p.file, 1), p.line or 0))
    report.warnings = sorted(problems.warnings, key=lambda p: (order.get(p.file, 1), p.line or 0))
    report.error_count = problems.error_count
    report.warning_count = problems.warning_count
    return report


def validate_for_provider(
    path: str | Path,
    provider: Provider,
    model: str | None,
    *,
    validation_path: str | Path | None = None,
    method: str = "supervised",
    n_epochs: int | str | None = "auto",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    options: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """``validate_file`` with ``provider.dataset_rules(model, method=method, options=...)``.

    ``options`` are the job's provider options (e.g. ``max_length``): checked exactly as
    creating the job checks them (``provider.validate_spec(..., check_files=False)``, which
    needs the model), and handed to ``dataset_rules`` typed, defaults filled in.
    """
    typed: Mapping[str, Any] | None = None
    if options:
        typed = check_job_options(
            provider, model, method=method, n_epochs=n_epochs, options=options
        )
    return validate_file(
        path,
        rules=provider.dataset_rules(model, method=method, options=typed),
        validation_path=validation_path,
        method=method,
        n_epochs=n_epochs,
        provider=provider.name,
        model=model,
        max_problems=max_problems,
        limits=provider.hyperparameter_limits_for(model),
        provider_check=lambda file: provider.check_dataset(file, method=method),
    )


__all__ = [
    "DEFAULT_MAX_PROBLEMS",
    "METHODS",
    "check_job_options",
    "sniff_method",
    "validate_file",
    "validate_for_provider",
]
