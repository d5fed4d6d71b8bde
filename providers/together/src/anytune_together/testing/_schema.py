"""The JSON shapes of Together's answers, for checking that the fake server does not drift from
the real API.

Derived by hand (a subset: the routes and fields anytune uses) from Together's OpenAPI
document, ``openapi.yaml`` in the public togethercomputer/openapi repository, ``info.version``
2.0.0, commit 090263a of 2026-04-28 (components FileResponse, FileList, FileDeleteResponse,
ErrorData, FinetuneResponse, FinetuneResponseTruncated, FinetuneTruncatedList,
FinetuneListEvents, FineTuneEvent, FinetuneListCheckpoints, FineTuneCheckpoint). The document
itself is not copied into this repository.

Differences kept on purpose: the event types add ``early_stopped`` and
``tokenized_dataset_upload_complete``, which the together SDK 3.1 knows and the document of
that date does not yet list.
"""

from __future__ import annotations

from typing import Any

_STATUS = {
    "enum": [
        "pending",
        "queued",
        "running",
        "compressing",
        "uploading",
        "cancel_requested",
        "cancelled",
        "error",
        "completed",
    ]
}
_EVENT_TYPES = [
    "job_pending", "job_start", "job_stopped", "model_downloading", "model_download_complete",
    "training_data_downloading", "training_data_download_complete",
    "validation_data_downloading", "validation_data_download_complete", "wandb_init",
    "training_start", "checkpoint_save", "billing_limit", "epoch_complete", "training_complete",
    "model_compressing", "model_compression_complete", "model_uploading",
    "model_upload_complete", "job_complete", "job_error", "cancel_requested", "job_restarted",
    "refund", "warning", "early_stopped", "tokenized_dataset_upload_complete",
]  # fmt: skip
_EVENT: dict[str, Any] = {
    "type": "object",
    "required": [
        "object",
        "created_at",
        "message",
        "type",
        "param_count",
        "token_count",
        "total_steps",
        "wandb_url",
        "step",
        "checkpoint_path",
        "model_path",
        "training_offset",
        "hash",
    ],
    "properties": {
        "object": {"const": "fine-tune-event"},
        "created_at": {"type": "string"},
        "level": {
            "enum": [
                None,
                "info",
                "warning",
                "error",
                "legacy_info",
                "legacy_iwarning",
                "legacy_ierror",
            ]
        },
        "message": {"type": "string"},
        "type": {"enum": _EVENT_TYPES},
        "param_count": {"type": "integer"},
        "token_count": {"type": "integer"},
        "total_steps": {"type": "integer"},
        "wandb_url": {"type": "string"},
        "step": {"type": "integer"},
        "checkpoint_path": {"type": "string"},
        "model_path": {"type": "string"},
        "training_offset": {"type": "integer"},
        "hash": {"type": "string"},
    },
}
_METHOD = {
    "oneOf": [
        {
            "type": "object",
            "required": ["method", "train_on_inputs"],
            "properties": {
                "method": {"enum": ["sft"]},
                "train_on_inputs": {"oneOf": [{"type": "boolean"}, {"enum": ["auto"]}]},
            },
        },
        {
            "type": "object",
            "required": ["method"],
            "properties": {"method": {"enum": ["dpo"]}, "dpo_beta": {"type": "number"}},
        },
    ]
}
_TRAINING_TYPE = {
    "oneOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["Full"]}}},
        {
            "type": "object",
            "required": ["type", "lora_r", "lora_alpha"],
            "properties": {
                "type": {"enum": ["Lora"]},
                "lora_r": {"type": "integer"},
                "lora_alpha": {"type": "integer"},
                "lora_dropout": {"type": "number"},
                "lora_trainable_modules": {"type": "string"},
            },
        },
    ]
}
_JOB_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "status": _STATUS,
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "model": {"type": "string"},
    "model_output_name": {"type": "string"},
    "training_file": {"type": "string"},
    "validation_file": {"type": "string"},
    "suffix": {"type": "string"},
    "n_epochs": {"type": "integer"},
    "learning_rate": {"type": "number"},
    "random_seed": {"type": ["integer", "null"]},
    "token_count": {"type": "integer"},
    "events": {"type": "array", "items": _EVENT},
    "training_method": _METHOD,
    "training_type": _TRAINING_TYPE,
}
JOB = {"type": "object", "required": ["id", "status"], "properties": {
    **_JOB_FIELDS, "batch_size": {"oneOf": [{"type": "integer"}, {"enum": ["max"]}]}}}  # fmt: skip
JOB_TRUNCATED = {
    "type": "object",
    "required": ["id", "status", "created_at", "updated_at"],
    "properties": {**_JOB_FIELDS, "batch_size": {"type": "integer"}},
}
FILE = {
    "type": "object",
    "required": [
        "id",
        "object",
        "created_at",
        "filename",
        "bytes",
        "purpose",
        "FileType",
        "Processed",
    ],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "file"},
        "created_at": {"type": "integer"},
        "filename": {"type": "string"},
        "bytes": {"type": "integer"},
        "purpose": {
            "enum": [
                "fine-tune",
                "eval",
                "eval-sample",
                "eval-output",
                "eval-summary",
                "batch-generated",
                "batch-api",
            ]
        },
        "Processed": {"type": "boolean"},
        "FileType": {"enum": ["csv", "jsonl", "parquet"]},
    },
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"}},
        }
    },
}
CHECKPOINT = {
    "type": "object",
    "required": ["step", "path", "created_at", "checkpoint_type"],
    "properties": {
        "step": {"type": "integer"},
        "created_at": {"type": "string"},
        "path": {"type": "string"},
        "checkpoint_type": {"type": "string"},
    },
}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": item}},
    }


RESPONSES: dict[str, dict[str, Any]] = {
    "POST /v1/fine-tunes": JOB_TRUNCATED,
    "GET /v1/fine-tunes": _list(JOB_TRUNCATED),
    "GET /v1/fine-tunes/{id}": JOB,
    "POST /v1/fine-tunes/{id}/cancel": JOB_TRUNCATED,
    "GET /v1/fine-tunes/{id}/events": _list(_EVENT),
    "GET /v1/fine-tunes/{id}/checkpoints": _list(CHECKPOINT),
    "GET /v1/files": _list(FILE),
    "GET /v1/files/{id}": FILE,
    "POST /v1/files/{id}/preprocess": FILE,
    "DELETE /v1/files/{id}": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "deleted": {"type": "boolean"}},
    },
}
"""The schema of each route's 200 answer; every 4xx/5xx JSON answer is ``ERROR``."""
