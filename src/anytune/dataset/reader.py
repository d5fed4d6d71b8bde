"""The one place anytune reads JSONL: streaming, line-numbered, tolerant of a UTF-8 BOM and
CRLF line endings, never holding the whole file in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.errors import DatasetError

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawLine:
    """One physical line: ``record`` when it parsed as a JSON value, else ``error``.

    Blank lines are skipped and never yielded.
    """

    lineno: int
    record: Any = None
    error: str | None = None
    size: int = 0
    """Bytes on disk, line ending included."""


MAX_LINE_BYTES = 128 * 1024 * 1024
"""A longer line is reported as a bad line and never held in memory (one example is far
smaller: a provider truncates it to its token limit anyway)."""


def _physical_lines(fh: Any) -> Iterator[tuple[bytes | None, int]]:
    """``(line, bytes)``; ``(None, bytes)`` for a line over ``MAX_LINE_BYTES``, skipped in
    bounded chunks."""
    limit = MAX_LINE_BYTES
    while raw := fh.readline(limit + 1):
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw, len(raw)
            continue
        size = len(raw)
        while (chunk := fh.readline(1 << 20)) and not chunk.endswith(b"\n"):
            size += len(chunk)
        yield None, size + len(chunk)


def iter_lines(path: str | Path) -> Iterator[RawLine]:
    """Yield every non-blank line of a JSONL file, parsed, with its 1-based line number."""
    with open(path, "rb") as fh:
        for lineno, (raw, size) in enumerate(_physical_lines(fh), start=1):
            if raw is None:
                yield RawLine(
                    lineno,
                    error=f"the line is {size / 2**20:,.0f} MiB, over the limit of "
                    f"{MAX_LINE_BYTES / 2**20:,.0f} MiB for one example (split or shorten it)",
                    size=size,
                )
                continue
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            stripped = raw.strip()
            if not stripped:
                continue
            try:
                text = stripped.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawLine(
                    lineno,
                    error=f"not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8",
                    size=size,
                )
                continue
            try:
                yield RawLine(lineno, record=json.loads(text), size=size)
            except json.JSONDecodeError as exc:
                yield RawLine(
                    lineno,
                    error=f"not valid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object",
                    size=size,
                )
            except RecursionError:
                # json's parser recurses once per nesting level: a hostile line of 100,000
                # "[" must be one bad line, not the end of the whole run.
                yield RawLine(
                    lineno,
                    error="JSON nested too deeply to read (thousands of levels of [ or {); "
                    "no training example nests like that: fix or remove the line",
                    size=size,
                )


def load_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Read a whole (small) JSONL file as ``(lineno, object)`` pairs.

    Raises ``DatasetError`` listing every unparseable line as ``file:line: what``. Use
    ``iter_lines`` for large files.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    for line in iter_lines(path):
        if line.error is not None:
            problems.append(f"{path}:{line.lineno}: {line.error}")
        elif not isinstance(line.record, dict):
            problems.append(
                f"{path}:{line.lineno}: expected a JSON object, got {type(line.record).__name__}"
            )
        else:
            records.append((line.lineno, line.record))
    if problems:
        raise DatasetError(
            f"{path}: {len(problems)} unreadable line(s)",
            problems=problems,
            hint=f"run `anytune validate {path}` for a full report",
        )
    return records
