"""Read flat records (one dict per example) from JSONL, CSV or TSV, streaming, with the line
number each record starts on. Used by ``anytune prepare``."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune.dataset.reader import iter_lines
from anytune.errors import ConfigurationError

FORMATS = ("jsonl", "csv", "tsv")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
}
_CSV_FIELD_LIMIT = 2**31 - 1
"""Long answers exceed the csv module's default 128 KiB per field."""


@dataclass(frozen=True)
class Record:
    """One input record: ``fields`` when it could be read, else ``error``."""

    lineno: int
    fields: dict[str, Any] | None = None
    error: str | None = None


def detect_format(path: str | Path, given: str | None = None) -> str:
    """``given`` if set, else the format implied by the file's extension."""
    if given is not None:
        if given not in FORMATS:
            raise ConfigurationError(
                f"unknown format {given!r}", hint=f"use one of {', '.join(FORMATS)}"
            )
        return given
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigurationError(
            f"cannot tell the format of {path} from its extension",
            hint=f"pass --format {'|'.join(FORMATS)}",
        )
    return fmt


def iter_records(path: str | Path, fmt: str, *, delimiter: str | None = None) -> Iterator[Record]:
    """Yield every record of a JSONL, CSV or TSV file, in order (``delimiter``: CSV's own)."""
    if fmt == "jsonl":
        yield from _jsonl(path)
    else:
        yield from _delimited(path, delimiter or ("\t" if fmt == "tsv" else ","))


def _jsonl(path: str | Path) -> Iterator[Record]:
    for line in iter_lines(path):
        if line.error is not None:
            yield Record(line.lineno, error=line.error)
        elif not isinstance(line.record, dict):
            yield Record(line.lineno, error="expected a JSON object with the record's fields")
        else:
            yield Record(line.lineno, fields=line.record)


def _valid_utf8(row: list[str]) -> bool:
    try:
        for value in row:
            value.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes that were not UTF-8
        return False
    return True


def _delimited(path: str | Path, delimiter: str) -> Iterator[Record]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header: list[str] | None = None
        end = 0  # physical line the previous record ended on
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row or all(not value.strip() for value in row):
                    continue
                if not _valid_utf8(row):
                    yield Record(start, error="not valid UTF-8; save the file as UTF-8")
                    continue
                if header is None:
                    header = [name.strip() for name in row]
                    continue
                if len(row) != len(header):
                    yield Record(
                        start,
                        error=f"{len(row)} fields, but the header has {len(header)} "
                        "(quote values that contain the delimiter or line breaks)",
                    )
                    continue
                yield Record(start, fields=dict(zip(header, row, strict=True)))
        except csv.Error as exc:
            yield Record(
                end + 1, error=f"unreadable {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})"
            )
        if header is None:
            yield Record(1, error="no header row: the first line must name the columns")


def header_of(path: str | Path, fmt: str, *, delimiter: str | None = None) -> list[str] | None:
    """The column names of a CSV/TSV file (None for JSONL or an unreadable header)."""
    if fmt == "jsonl":
        return None
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        for row in csv.reader(fh, delimiter=delimiter or ("\t" if fmt == "tsv" else ",")):
            if row and any(value.strip() for value in row):
                return [name.strip() for name in row]
    return None


__all__ = ["FORMATS", "Record", "detect_format", "header_of", "iter_records"]
