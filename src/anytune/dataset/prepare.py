"""Convert flat records (input/output, or prompt/chosen/rejected) into training JSONL.

::

    from anytune.dataset.prepare import prepare_file
    result = prepare_file("qa.csv", "train.jsonl", system_prompt="You are terse.",
                          validation_split=0.1, seed=7)
    print(result.written, result.validation_written, result.duplicates_dropped)

Streaming in two passes: the first converts and de-duplicates into a temporary file next to
the output; the second (only with a validation split) routes each example to the training
or validation file. Examples with the same prompt always land on the same side, so no
example (and no prompt) is in both files. Outputs appear only when everything succeeded
(temporary file + rename), and existing files are never overwritten without ``force``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from anytune.dataset.digests import DigestTable
from anytune.dataset.records import detect_format, header_of, iter_records
from anytune.dataset.report import Problem
from anytune.errors import ConfigurationError, DatasetError

DEFAULT_FIELDS = {
    "input": "input",
    "output": "output",
    "system": "system_prompt",
    "prompt": "prompt",
    "chosen": "chosen",
    "rejected": "rejected",
}


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare_file`` wrote."""

    output: Path
    validation_output: Path | None
    records: int
    """Records read (blank lines not counted)."""
    written: int
    """Examples in ``output``."""
    validation_written: int
    duplicates_dropped: int
    skipped: list[Problem] = field(default_factory=list)
    """Bad records left out (only with ``skip_invalid``), the first ``max_problems``."""
    skipped_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "validation_output": str(self.validation_output) if self.validation_output else None,
            "records": self.records,
            "written": self.written,
            "validation_written": self.validation_written,
            "duplicates_dropped": self.duplicates_dropped,
            "skipped_count": self.skipped_count,
            "skipped": [p.to_dict() for p in self.skipped],
        }


def _refuse_training_data(
    source: Path, lineno: int, fields: dict[str, Any], names: dict[str, str], dpo: bool
) -> None:
    """A file that is already training JSONL has nothing to convert: say so."""
    needed = (names["prompt"], names["chosen"]) if dpo else (names["input"], names["output"])
    if any(n in fields for n in needed):
        return
    if "messages" in fields or {"input", "preferred_output"} <= set(fields):
        kind = "chat" if "messages" in fields else "DPO preference"
        raise DatasetError(
            f"{source}:{lineno}: already {kind} training JSONL; there is nothing to convert",
            hint=f"check it with `anytune validate {source}` and train on it as it is",
        )


def default_validation_output(output: str | Path) -> Path:
    """``train.jsonl`` -> ``train.valid.jsonl``."""
    return Path(output).with_suffix(".valid.jsonl")


def _text(
    record: dict[str, Any], name: str, what: str, option: str
) -> tuple[str | None, str | None]:
    """(value, None) or (None, problem) for a required text field."""
    if name not in record or record[name] is None:
        keys = ", ".join(map(str, record)) or "none"
        return (
            None,
            f"missing field {name!r} ({what}); this record has: {keys} (choose the field with {option})",
        )
    value = record[name]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None, f"field {name!r} must be text, got {type(value).__name__}"
    if not value.strip():
        return None, f"field {name!r} is empty"
    return value, None


def _system(
    record: dict[str, Any], name: str, default: str | None
) -> tuple[str | None, str | None]:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default, None
    if not isinstance(value, str):
        return None, f"field {name!r} (system prompt) must be text, got {type(value).__name__}"
    return value, None


def convert_record(
    record: dict[str, Any],
    *,
    fields: dict[str, str],
    system_prompt: str | None = None,
    dpo: bool = False,
) -> tuple[dict[str, Any] | None, list[str]]:
    """One record as a chat (or, with ``dpo``, a preference) example, or its problems."""
    problems: list[str] = []
    system, problem = _system(record, fields["system"], system_prompt)
    if problem:
        problems.append(problem)
    names = ("prompt", "chosen", "rejected") if dpo else ("input", "output")
    whats = {
        "input": "the user message",
        "output": "the assistant reply",
        "prompt": "the user message",
        "chosen": "the preferred reply",
        "rejected": "the worse reply",
    }
    values: dict[str, str] = {}
    for key in names:
        value, problem = _text(record, fields[key], whats[key], f"--{key}-field")
        if problem:
            problems.append(problem)
        elif value is not None:
            values[key] = value
    if problems:
        return None, problems
    prompt: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    if not dpo:
        prompt.append({"role": "user", "content": values["input"]})
        prompt.append({"role": "assistant", "content": values["output"]})
        return {"messages": prompt}, []
    if values["chosen"] == values["rejected"]:
        return None, ["chosen and rejected are identical, so there is nothing to learn"]
    prompt.append({"role": "user", "content": values["prompt"]})
    return {
        "input": {"messages": prompt},
        "preferred_output": [{"role": "assistant", "content": values["chosen"]}],
        "non_preferred_output": [{"role": "assistant", "content": values["rejected"]}],
    }, []


_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def _jsonl_line(example: dict[str, Any]) -> str:
    """One JSON line, UTF-8 text kept readable but the characters that some readers take as
    line breaks (U+2028, U+2029, U+0085) escaped, so every reader sees one line."""
    line = json.dumps(example, ensure_ascii=False)
    return line if line.isascii() else line.translate(_SEPARATORS)


@contextmanager
def _temp_file(near: Path) -> Iterator[tuple[IO[str], Path]]:
    """A text file in ``near``'s directory, removed unless it was renamed away."""
    fd, name = tempfile.mkstemp(prefix=f".{near.name}.", suffix=".tmp", dir=near.parent)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh, path
    finally:
        if path.exists():
            path.unlink()


def _check_outputs(input_path: Path, outputs: list[Path], force: bool) -> None:
    for out in outputs:
        if out.exists() and out.resolve() == input_path.resolve():
            raise ConfigurationError(
                f"{out} is the input file", hint="write to another file with -o"
            )
        if out.exists() and not force:
            raise ConfigurationError(
                f"{out} already exists", hint="pass --force to overwrite it, or choose another name"
            )
        if not out.parent.is_dir():
            raise ConfigurationError(f"{out.parent} is not a directory", hint="create it first")
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise ConfigurationError("the training and validation outputs are the same file")


def _validation_groups(groups: array[int], fraction: float, seed: int) -> set[int]:
    """The prompt groups to hold out: shuffled with ``seed``, until ``fraction`` is reached."""
    sizes: dict[int, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    order = list(sizes)  # first-appearance order: independent of hash values
    random.Random(seed).shuffle(order)
    target = max(1, round(len(groups) * fraction))
    chosen: set[int] = set()
    taken = 0
    for group in order:
        if taken >= target:
            break
        if taken + sizes[group] >= len(groups):
            continue  # keep at least one training example
        chosen.add(group)
        taken += sizes[group]
    return chosen


def prepare_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    fmt: str | None = None,
    fields: dict[str, str] | None = None,
    system_prompt: str | None = None,
    dpo: bool = False,
    validation_split: float = 0.0,
    seed: int = 0,
    validation_output: str | Path | None = None,
    force: bool = False,
    skip_invalid: bool = False,
    keep_duplicates: bool = False,
    max_problems: int = 1000,
    delimiter: str | None = None,
) -> PrepareResult:
    """Convert ``input_path`` (JSONL, CSV or TSV records) into training JSONL.

    ``fields`` maps the roles in ``DEFAULT_FIELDS`` (input, output, system, prompt, chosen,
    rejected) to the record's field names. Identical examples are written once
    (``keep_duplicates`` keeps them; not allowed with a split). Bad records raise
    ``DatasetError`` listing each as ``file:line: problem`` and nothing is written, unless
    ``skip_invalid``, which leaves them out and lists them in the result. ``delimiter``
    overrides the CSV/TSV one (e.g. ``";"``).
    """
    source = Path(input_path)
    if not source.is_file():
        raise DatasetError(f"{source}: no such file", hint="check the path")
    fmt = detect_format(source, fmt)
    names = {**DEFAULT_FIELDS, **(fields or {})}
    if not 0.0 <= validation_split < 1.0:
        raise ConfigurationError(f"validation split must be in [0, 1), got {validation_split}")
    if validation_split and keep_duplicates:
        raise ConfigurationError(
            "keeping duplicates and splitting off validation data cannot be combined",
            hint="a duplicate could land on both sides; drop one of the two options",
        )
    out = Path(output_path)
    valid_out = None
    if validation_split:
        valid_out = Path(validation_output) if validation_output else default_validation_output(out)
    _check_outputs(source, [out, *([valid_out] if valid_out else [])], force)
    header = header_of(source, fmt, delimiter=delimiter)
    if header is not None:
        needed = [
            names[k] for k in (("prompt", "chosen", "rejected") if dpo else ("input", "output"))
        ]
        missing = [n for n in needed if n not in header]
        if missing:
            option = {v: k for k, v in names.items()}
            raise DatasetError(
                f"{source}:1: no column {', '.join(map(repr, missing))} (columns: {', '.join(header)})",
                hint="name the columns with "
                + " ".join(f"--{option[m]}-field COLUMN" for m in missing),
            )
    problems: list[Problem] = []
    bad = records = written = dropped = 0
    seen = DigestTable()  # fingerprint of each written example -> its input line
    groups: array[int] = array("q")
    with _temp_file(out) as (fh, everything):
        for record in iter_records(source, fmt, delimiter=delimiter):
            records += 1
            if records == 1 and record.fields is not None:
                _refuse_training_data(source, record.lineno, record.fields, names, dpo)
            if record.fields is None:
                issues = [record.error or "unreadable record"]
                example = None
            else:
                example, issues = convert_record(
                    record.fields, fields=names, system_prompt=system_prompt, dpo=dpo
                )
            if example is None:
                bad += 1
                for issue in issues:
                    if len(problems) < max_problems:
                        problems.append(Problem(str(source), record.lineno, issue))
                continue
            line = _jsonl_line(example)
            if not keep_duplicates and seen.setdefault(hash(line), record.lineno) != record.lineno:
                dropped += 1
                continue
            if validation_split:
                prompt = example["input"]["messages"] if dpo else example["messages"][:-1]
                groups.append(hash(json.dumps(prompt, ensure_ascii=False)))
            fh.write(line + "\n")
            written += 1
        fh.close()
        if bad and not skip_invalid:
            shown = [str(p) for p in problems]
            if bad > len(problems):
                shown.append(f"... and more ({bad} bad records in all)")
            raise DatasetError(
                f"{source}: {bad} of {records} records cannot be converted; nothing was written",
                problems=shown,
                hint="fix them, or pass --skip-invalid to leave them out",
            )
        if written == 0:
            raise DatasetError(f"{source}: no records to convert", hint="is the file empty?")
        held_out = 0
        if valid_out is None:
            os.replace(everything, out)
        else:
            if written < 2:
                raise DatasetError(
                    f"{source}: {written} example, too few to split off validation data",
                    hint="drop --validation-split",
                )
            held_out = _split(
                everything,
                out,
                valid_out,
                _validation_groups(groups, validation_split, seed),
                groups,
            )
    return PrepareResult(
        output=out,
        validation_output=valid_out,
        records=records,
        written=written - held_out,
        validation_written=held_out,
        duplicates_dropped=dropped,
        skipped=problems if skip_invalid else [],
        skipped_count=bad,
    )


def _split(
    everything: Path, out: Path, valid_out: Path, chosen: set[int], groups: array[int]
) -> int:
    """Route each line of ``everything`` to ``out`` or ``valid_out``; returns lines held out."""
    held_out = 0
    with _temp_file(out) as (train_fh, train_tmp), _temp_file(valid_out) as (valid_fh, valid_tmp):
        with open(everything, encoding="utf-8", newline="\n") as src:
            for index, line in enumerate(src):
                if groups[index] in chosen:
                    valid_fh.write(line)
                    held_out += 1
                else:
                    train_fh.write(line)
        train_fh.close()
        valid_fh.close()
        os.replace(valid_tmp, valid_out)
        os.replace(train_tmp, out)
    return held_out


__all__ = [
    "DEFAULT_FIELDS",
    "PrepareResult",
    "convert_record",
    "default_validation_output",
    "prepare_file",
]
