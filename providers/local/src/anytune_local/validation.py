"""The worker's ``validating_files`` step: a quick check of a job's files.

It catches what would otherwise fail minutes later, after the model loaded: unreadable
lines, records that are not chat (or DPO) examples, an empty file. The format rules are the
core's (``anytune.dataset.rules``, what ``anytune validate`` applies), never a copy. Token
counts, truncation and what the chat template can render are the recipe's (it fails the job
with ``file:line: model M's chat template does not render X``); ``anytune validate FILE -p
local -m MODEL`` reports all of it before upload.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from anytune.dataset.reader import iter_lines
from anytune.dataset.rules import CHAT, DPO, example_problem
from anytune_local.store import JobRecord, Store

MAX_PROBLEMS = 5


def validate_job_files(
    store: Store, record: JobRecord, event: Callable[[str], None]
) -> tuple[str, str] | None:
    """Check the job's files; return ``(error code, message)`` or None when usable."""
    spec = record.spec_dict
    method = str(spec.get("method", "supervised"))
    counts: list[str] = []
    for kind, file_id in (
        ("training", spec["training_file"]),
        ("validation", spec.get("validation_file")),
    ):
        if not file_id:
            continue
        found = store.get_file(file_id)
        code = f"invalid_{kind}_file"
        if found is None or not Path(found.path).is_file():
            return code, f"{kind} file {file_id} is missing from the local store {store.files_dir}"
        event(f"Validating {kind} file {found.filename} ({file_id}).")
        examples, problems = check_file(Path(found.path), found.filename, method)
        if problems:
            more = (
                f" (and {len(problems) - MAX_PROBLEMS} more)"
                if len(problems) > MAX_PROBLEMS
                else ""
            )
            listed = "; ".join(problems[:MAX_PROBLEMS])
            return code, (
                f"{kind} file {found.filename} has {len(problems)} problem(s): {listed}{more}. "
                f"Run `anytune validate {found.filename} --provider local` for a full report."
            )
        if examples == 0:
            return code, f"{kind} file {found.filename} has no examples"
        counts.append(f"{examples} {kind} example(s)")
    event(f"Files validated: {', '.join(counts)}.")
    return None


def check_file(path: Path, name: str, method: str) -> tuple[int, list[str]]:
    """Count examples and list ``name:line: problem`` for records of the wrong shape."""
    examples = 0
    problems: list[str] = []
    for line in iter_lines(path):
        if line.error is not None:
            problems.append(f"{name}:{line.lineno}: {line.error}")
            continue
        problem = shape_problem(line.record, method)
        if problem:
            problems.append(f"{name}:{line.lineno}: {problem}")
        else:
            examples += 1
    return examples, problems


def shape_problem(record: Any, method: str) -> str | None:
    """What is wrong with one record for a job of ``method``, or None (the core's rules)."""
    return example_problem(record, DPO if method == "dpo" else CHAT)
