"""The fake's training-shape registry: ``GET /v1/accounts/-/trainingShapes/-/versions`` with
an AIP-160 ``filter`` (terms joined by ``AND``: ``snapshot.base_model="..."``,
``snapshot.trainer_mode="..."``, ``latest_validated=true``), paged by ``pageSize`` /
``pageToken``, answered as ``trainingShapeVersions`` of ``{"name", "latestValidated",
"snapshot": {"baseModel", "trainerMode", "maxSupportedContextLength", ...}}``, the fields
Fireworks' training SDK reads. The seeded shapes are test data, not Fireworks' figures."""

from __future__ import annotations

import re
from typing import Any

FIELDS = {
    "snapshot.base_model": ("snapshot", "baseModel"),
    "snapshot.trainer_mode": ("snapshot", "trainerMode"),
    "latest_validated": (None, "latestValidated"),
}
TERM = re.compile(r'^\s*([a-z_.]+)\s*=\s*(?:"([^"]*)"|(true|false))\s*$')


def shape(
    model: str, length: int, *, mode: str = "LORA_TRAINER", version: str = "v1"
) -> dict[str, Any]:
    base = f"accounts/fireworks/models/{model}"
    return {
        "name": f"accounts/fireworks/trainingShapes/{model}-{length // 1024}k/versions/{version}",
        "latestValidated": True,
        "snapshot": {
            "baseModel": base,
            "trainerMode": mode,
            "maxSupportedContextLength": length,
            "acceleratorType": "NVIDIA_H200_141GB",
            "acceleratorCount": 8,
            "nodeCount": 1,
        },
    }


DEFAULT_SHAPES: tuple[dict[str, Any], ...] = (
    shape("qwen3-8b", 32_768),
    shape("qwen3-8b", 131_072, mode="POLICY_TRAINER"),
    shape("llama-v3p1-8b-instruct", 65_536),
)


def parse_filter(text: str) -> list[tuple[tuple[str | None, str], str | bool]] | str:
    """The filter's terms as (field path, wanted value); a string: why it is invalid."""
    terms: list[tuple[tuple[str | None, str], str | bool]] = []
    for part in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
        found = TERM.match(part)
        if found is None or found.group(1) not in FIELDS:
            return f"invalid filter term {part!r}"
        value: str | bool = (
            found.group(2) if found.group(2) is not None else found.group(3) == "true"
        )
        terms.append((FIELDS[found.group(1)], value))
    return terms


def matching(shapes: list[dict[str, Any]], text: str) -> list[dict[str, Any]] | str:
    terms = parse_filter(text)
    if isinstance(terms, str):
        return terms

    def field(record: dict[str, Any], path: tuple[str | None, str]) -> Any:
        holder = record.get(path[0]) or {} if path[0] else record
        return holder.get(path[1])

    return [s for s in shapes if all(field(s, path) == want for path, want in terms)]
