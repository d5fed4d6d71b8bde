"""Checking the fake server's traffic against OpenAI's published OpenAPI document
(``/work/shared/openapi/openai-fine-tuning.json``, read in place, never copied).

``problems(document, record)`` lists what in one recorded request (query, JSON body,
multipart fields) or in its JSON answer does not match the document. Two documented gaps
of the document are allowed: the job status ``paused`` (the API returns it, the enum lacks
it) and ``nullable`` (an OpenAPI 3.0 keyword the 3.1 document still uses) is honoured.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from anytune_openai.testing import RecordedRequest

SPEC = Path("/work/shared/openapi/openai-fine-tuning.json")


def _nullable(node: Any) -> Any:
    """``nullable: true`` as JSON Schema 2020-12 says it."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("nullable", False):
        kind = node.get("type")
        if isinstance(kind, str):
            node["type"] = [kind, "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        elif kind is None:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@cache
def document() -> dict[str, Any]:
    raw = json.loads(SPEC.read_text())
    doc: dict[str, Any] = _nullable(raw)
    status = doc["components"]["schemas"]["FineTuningJob"]["properties"]["status"]
    status["enum"] = [*status["enum"], "paused"]  # returned by the API, missing in the enum
    return doc


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The document's path template and operation for a concrete ``/v1/...`` path."""
    concrete = path.removeprefix("/v1")
    for template, item in document()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, concrete) and method.lower() in item:
            return template, item[method.lower()]
    return None


def _validate(schema: dict[str, Any], value: Any) -> list[str]:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    root = {**copy.deepcopy(schema), "components": document()["components"]}
    validator = Draft202012Validator(root)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
        for e in validator.iter_errors(value)
    ]


def problems(record: RecordedRequest) -> list[str]:
    """What in ``record`` (request and answer) the document does not allow."""
    found = operation(record.method, record.path.replace("/openai/v1/", "/v1/"))
    where = f"{record.method} {record.path}"
    if found is None:
        return [f"{where}: no such operation in the OpenAPI document"]
    _, op = found
    out: list[str] = []
    params = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
    for name, values in record.query.items():
        base = name.split("[", 1)[0]
        if base not in params:
            out.append(f"{where}: query parameter {name!r} is not in the document")
            continue
        schema = params[base].get("schema", {})
        if schema.get("type") == "integer" and not all(v.lstrip("-").isdigit() for v in values):
            out.append(f"{where}: query {name}={values} is not an integer")
        if "enum" in schema and not all(v in schema["enum"] for v in values):
            out.append(f"{where}: query {name}={values} is not one of {schema['enum']}")
    content = (op.get("requestBody") or {}).get("content", {})
    if isinstance(record.body, list):  # multipart: the field names
        schema = content.get("multipart/form-data", {}).get("schema", {})
        if "$ref" in schema:
            schema = _ref(schema["$ref"])
        missing = sorted(set(schema.get("required", [])) - set(record.body))
        out += [f"{where}: multipart field {m!r} missing" for m in missing]
    elif record.body is not None:
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            out.append(f"{where}: a JSON body where the document has none")
        else:
            out += [f"{where} request {p}" for p in _validate(schema, record.body)]
    if record.response is not None and record.status is not None:
        answers = op.get("responses", {})
        answer = answers.get(str(record.status))
        if answer is None and record.status >= 400:
            return out  # error bodies are not described per operation
        if answer is None:
            out.append(f"{where}: status {record.status} is not in the document")
        else:
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                out += [f"{where} response {p}" for p in _validate(schema, record.response)]
    return out


def _ref(ref: str) -> dict[str, Any]:
    node: Any = document()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)
