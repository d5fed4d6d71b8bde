"""Guess what a file is from its first line or its name, cheaply (no full read)."""

from __future__ import annotations

from pathlib import Path

from anytune.dataset.reader import iter_lines
from anytune.dataset.rules import DPO, detect_kind


def sniff_method(path: str | Path) -> str:
    """ "dpo" when the first example of ``path`` is a preference example, else "supervised"."""
    for raw in iter_lines(path):
        if raw.error is None:
            return "dpo" if detect_kind(raw.record) == DPO else "supervised"
    return "supervised"


def delimited_format(path: Path) -> str | None:
    """ "CSV" / "TSV" when the file looks like one (by extension or its first line)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab"):
        return "TSV" if suffix != ".csv" else "CSV"
    with open(path, "rb") as fh:
        first = fh.readline(65536).lstrip(b"\xef\xbb\xbf").strip()
    if not first or first[:1] in (b"{", b"["):
        return None
    if b"\t" in first:
        return "TSV"
    return "CSV" if b"," in first else None


__all__ = ["delimited_format", "sniff_method"]
