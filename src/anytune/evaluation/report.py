"""An evaluation's results: per model, per example, and the tuned-vs-baseline differences,
as JSON (``to_dict``) and markdown (``markdown``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DIFFERENCES_SHOWN = 20
"""Per-example differences the markdown report lists in each direction (JSON has all)."""


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class ModelResult:
    """One model's answers and scores, in the examples' order."""

    model: str
    generations: list[str]
    exact: list[float]
    f1: list[float]
    losses: list[float] | None = None
    """Mean loss of each reference answer, where the provider computes it."""

    @property
    def exact_match(self) -> float:
        return _mean(self.exact) or 0.0

    @property
    def token_f1(self) -> float:
        return _mean(self.f1) or 0.0

    @property
    def reference_loss(self) -> float | None:
        return _mean(self.losses) if self.losses is not None else None

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "exact_match": self.exact_match,
            "token_f1": self.token_f1,
            "reference_loss": self.reference_loss,
        }


@dataclass
class EvalReport:
    """``tuned`` (and ``baseline``) on the examples of ``file``."""

    file: str
    lines: list[int]
    prompts: list[str]
    """The last user message of each example (for the report)."""
    references: list[str]
    tuned: ModelResult
    baseline: ModelResult | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def differences(self) -> tuple[list[int], list[int]]:
        """Indices of examples the tuned model gets right and the baseline wrong (improved),
        and the other way round (regressed), by exact match."""
        if self.baseline is None:
            return [], []
        pairs = list(zip(self.tuned.exact, self.baseline.exact, strict=True))
        improved = [i for i, (t, b) in enumerate(pairs) if t > b]
        regressed = [i for i, (t, b) in enumerate(pairs) if t < b]
        return improved, regressed

    def to_dict(self) -> dict[str, Any]:
        models = [self.tuned, *([self.baseline] if self.baseline else [])]
        improved, regressed = self.differences()
        examples = []
        for i, line in enumerate(self.lines):
            row: dict[str, Any] = {"line": line, "reference": self.references[i]}
            for name, result in zip(("tuned", "baseline"), models, strict=False):
                row[name] = {
                    "generation": result.generations[i],
                    "exact_match": result.exact[i],
                    "token_f1": result.f1[i],
                    "reference_loss": result.losses[i] if result.losses is not None else None,
                }
            examples.append(row)
        return {
            "file": self.file,
            "examples": len(self.lines),
            "settings": dict(self.settings),
            "tuned": self.tuned.summary(),
            "baseline": self.baseline.summary() if self.baseline else None,
            "improved_lines": [self.lines[i] for i in improved],
            "regressed_lines": [self.lines[i] for i in regressed],
            "warnings": list(self.warnings),
            "per_example": examples,
        }

    def summary_lines(self) -> list[str]:
        """A few lines for a terminal."""
        out = [f"{len(self.lines)} examples from {self.file}"]
        for label, result in (("tuned", self.tuned), ("baseline", self.baseline)):
            if result is None:
                continue
            loss = result.reference_loss
            out.append(
                f"{label:<8} {result.model}: exact match {result.exact_match:.3f}, "
                f"token F1 {result.token_f1:.3f}"
                + (f", reference loss {loss:.4f}" if loss is not None else "")
            )
        if self.baseline is not None:
            improved, regressed = self.differences()
            out.append(f"{len(improved)} improved, {len(regressed)} regressed (exact match)")
        out += [f"Warning: {w}" for w in self.warnings]
        return out

    def markdown(self) -> str:
        """The report as markdown: summary table, then the per-example differences."""
        models = [("tuned", self.tuned), *([("baseline", self.baseline)] if self.baseline else [])]
        out = [f"# Evaluation on `{self.file}` ({len(self.lines)} examples)", ""]
        out += [f"> **Warning:** {w}" for w in self.warnings]
        if self.warnings:
            out.append("")
        out += ["| | model | exact match | token F1 | reference loss |", "|---|---|---|---|---|"]
        for label, result in models:
            loss = result.reference_loss
            out.append(
                f"| {label} | `{result.model}` | {result.exact_match:.3f} | "
                f"{result.token_f1:.3f} | {'' if loss is None else f'{loss:.4f}'} |"
            )
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        out += ["", f"Settings: {settings}." if settings else ""]
        if self.baseline is not None:
            improved, regressed = self.differences()
            for title, indices in (("Improved", improved), ("Regressed", regressed)):
                out += ["", f"## {title} ({len(indices)})", ""]
                if not indices:
                    out.append("None.")
                    continue
                out += ["| line | prompt | reference | tuned | baseline |", "|---|---|---|---|---|"]
                for i in indices[:DIFFERENCES_SHOWN]:
                    cells = (
                        self.prompts[i],
                        self.references[i],
                        self.tuned.generations[i],
                        self.baseline.generations[i],
                    )
                    out.append(f"| {self.lines[i]} | " + " | ".join(map(_cell, cells)) + " |")
                if len(indices) > DIFFERENCES_SHOWN:
                    out.append(f"\n… and {len(indices) - DIFFERENCES_SHOWN} more (JSON has all).")
        else:
            wrong = [i for i, e in enumerate(self.tuned.exact) if e < 1.0]
            out += ["", f"## Wrong answers ({len(wrong)})", ""]
            out += ["| line | prompt | reference | answer |", "|---|---|---|---|"]
            for i in wrong[:DIFFERENCES_SHOWN]:
                row = (self.prompts[i], self.references[i], self.tuned.generations[i])
                out.append(f"| {self.lines[i]} | " + " | ".join(map(_cell, row)) + " |")
        return "\n".join(out).rstrip() + "\n"


def _cell(text: str, width: int = 80) -> str:
    one_line = " ".join(text.split()).replace("|", "\\|")
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


__all__ = ["DIFFERENCES_SHOWN", "EvalReport", "ModelResult"]
