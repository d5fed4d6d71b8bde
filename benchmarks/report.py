"""Benchmark results: what each benchmark reports (``Result``, its tables and the targets it
judged) and how a run is written down: ``results.md`` for people, ``results.json`` for
machines."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    """One target from the issue and whether this run met it (None: not judged, e.g. smoke)."""

    what: str
    target: str
    measured: str
    met: bool | None
    note: str = ""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Result:
    """What one benchmark reports: tables for people, ``data`` for machines."""

    name: str
    title: str
    status: str = "ok"  # ok | skipped | error
    reason: str = ""
    seconds: float = 0.0
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.tables.append(Table(tuple(columns), tuple(tuple(r) for r in rows)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def skipped(name: str, title: str, reason: str) -> Result:
    return Result(name=name, title=title, status="skipped", reason=reason)


_VERDICT = {True: "met", False: "**missed**", None: "not judged"}


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(
    results: Sequence[Result], machine_info: Mapping[str, Any], command: str, smoke: bool
) -> str:
    """The results table people read (benchmarks/results/results.md)."""
    packages = ", ".join(f"{k} {v}" for k, v in machine_info["packages"].items() if v is not None)
    lines = [
        "# anytune benchmark results",
        "",
        "Smoke-sized run: numbers only prove the scripts work; targets are not judged."
        if smoke
        else "Each comparison ran side by side in one run: arms alternate (A B, B A, ...), the "
        "median is shown with [min–max] over the repetitions, and ratios are taken pair by "
        "pair.",
        "",
        f"- Command: `{command}`",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"- Machine: {machine_info['cpu']}, {machine_info['cores']} cores, "
        f"{machine_info['ram_gib']} GiB RAM, GPU: {', '.join(machine_info['gpus']) or 'none'}",
        f"- OS: {machine_info['os']}; Python {machine_info['python']}",
        f"- Load average (1 min) at start: {machine_info['load_average'][0]}"
        + (
            f", at end: {machine_info['load_average_after'][0]}"
            if "load_average_after" in machine_info
            else ""
        )
        + f"; CPU threads per process: {machine_info.get('threads', 'default')}",
        f"- Packages: {packages}",
        "",
        "## Targets",
        "",
    ]
    target_rows = [
        (r.title, t.what, t.target, t.measured, _VERDICT[t.met]) for r in results for t in r.targets
    ]
    target_rows += [
        (r.title, "—", "—", f"{r.status.upper()}: {r.reason}", "not judged")
        for r in results
        if r.status != "ok"
    ]
    lines += _md_table(("benchmark", "what", "target", "measured", "verdict"), target_rows)
    for r in results:
        lines += ["", f"## {r.title}", ""]
        if r.status != "ok":
            lines += [f"{r.status.upper()}: {r.reason}", ""]
        for table in r.tables:
            lines += [*_md_table(table.columns, table.rows), ""]
        for target in r.targets:
            if target.note:
                lines.append(f"- {target.what} ({_VERDICT[target.met]}): {target.note}")
        lines += [f"- {note}" for note in r.notes]
        lines.append(f"- Benchmark wall time: {r.seconds:.0f} s")
    return "\n".join(lines).rstrip() + "\n"


def write_results(
    out_dir: Path,
    results: Sequence[Result],
    machine_info: Mapping[str, Any],
    command: str,
    smoke: bool,
) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "results.md"
    js = out_dir / "results.json"
    md.write_text(render_markdown(results, machine_info, command, smoke))
    payload = {
        "command": command,
        "smoke": smoke,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": dict(machine_info),
        "results": [r.to_dict() for r in results],
    }
    js.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return md, js
