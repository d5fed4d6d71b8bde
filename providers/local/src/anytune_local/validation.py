"""The worker's ``validating_files`` step: a quick structural check of a job's files.

It catches what would otherwise fail minutes later, after the model loaded: unreadable
lines, records that are not chat (or DPO) examples, an empty file. Token counts, truncation
and loss masking are the recipe's (it reports them in its validation summary event);
``anytune validate`` gives the full offline report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from anytune.dataset.reader import iter_lines
from anytune_local.store import JobRecord, Store

MAX_PROBLEMS = 5
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


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
    """What is wrong with one record's shape, or None."""
    if not isinstance(record, Mapping):
        return f"expected a JSON object, got {type(record).__name__}"
    if method == "dpo":
        for key in ("input", "preferred_output", "non_preferred_output"):
            if key not in record:
                return f'a DPO example needs "input", "preferred_output" and "non_preferred_output"; "{key}" is missing'
        messages = record["input"].get("messages") if isinstance(record["input"], Mapping) else None
        return _messages_problem(messages, '"input.messages"', need_assistant=False)
    return _messages_problem(record.get("messages"), '"messages"', need_assistant=True)


def _messages_problem(messages: Any, where: str, *, need_assistant: bool) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"{where} must be a non-empty list of messages"
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return f"{where}[{index}] must be an object with a role"
        role = message.get("role")
        if role not in ROLES:
            return f"{where}[{index}] has role {role!r}; use one of {', '.join(sorted(ROLES))}"
    if need_assistant and not any(m.get("role") == "assistant" for m in messages):
        return f"{where} has no assistant message, so nothing would be trained"
    return None
