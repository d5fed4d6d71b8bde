"""The routes of the fake Together server, answering with the JSON shapes of Together's
OpenAPI document (togethercomputer/openapi, ``openapi.yaml`` of 2026-04-28: FileResponse,
FileList, FinetuneResponse, FinetuneEvent, checkpoints, ErrorData ``{"error": {...}}``) and
the upload protocol the SDK speaks (``POST /v1/files`` answered 302 with ``Location`` and
``X-Together-File-Id``, ``PUT`` of the bytes, ``POST /v1/files/{id}/preprocess``; a second
upload of the same checksum is answered 409 with the existing ``file_id``)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from anytune.testing.http import Answer, parse_form

ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{id}"),
    ("DELETE", "/v1/files/{id}"),
    ("POST", "/v1/files/{id}/preprocess"),
    ("PUT", "/_upload/{id}"),
    ("GET", "/v1/fine-tunes/models/limits"),
    ("POST", "/v1/fine-tunes/estimate-price"),
    ("POST", "/v1/fine-tunes"),
    ("GET", "/v1/fine-tunes"),
    ("GET", "/v1/fine-tunes/{id}"),
    ("GET", "/v1/fine-tunes/{id}/events"),
    ("GET", "/v1/fine-tunes/{id}/checkpoints"),
    ("POST", "/v1/fine-tunes/{id}/cancel"),
    ("GET", "/v1/finetune/download"),
)
_PATTERNS = [
    (m, re.compile("^" + re.escape(t).replace(re.escape("{id}"), "([^/]+)") + "$"), t)
    for m, t in ROUTES
]
TERMINAL = ("completed", "cancelled", "error")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class FakeAPI:
    def __init__(self, *, total_steps: int, root: str = ""):
        self.lock = threading.RLock()
        self.total_steps = total_steps
        self.root = root
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.checksums: dict[str, str] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, int] = {}
        self.fail_with: str | None = None
        self.adapter = b"\x28\xb5\x2f\xfd fake adapter archive"

    # -- plumbing ------------------------------------------------------------------------
    def route_of(self, method: str, path: str) -> str | None:
        for m, pattern, template in _PATTERNS:
            if m == method and pattern.match(path):
                return template
        return None

    @staticmethod
    def error(status: int, message: str, code: str = "invalid_request_error") -> Answer:
        kind = "invalid_request_error" if status < 500 else "server_error"
        return status, {"error": {"message": message, "type": kind, "code": code}}, {}

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], body: bytes, headers: Any
    ) -> Answer:
        for m, pattern, template in _PATTERNS:
            found = pattern.match(path)
            if m == method and found:
                name = template.replace("/", "_").replace("{id}", "x").replace("-", "_")
                handler = getattr(self, f"do_{method.lower()}{name}")
                args = found.groups()
                with self.lock:
                    result: Answer = handler(*args, query=query, body=body, headers=headers)
                return result
        return self.error(404, f"no route {method} {path}", "not_found")

    # -- files ---------------------------------------------------------------------------
    def _file_or_404(self, file_id: str) -> dict[str, Any] | None:
        return self.files.get(file_id)

    def do_post_v1_files(self, *, body: bytes, headers: Any, **_: Any) -> Answer:
        form = {k: v.decode() for k, v in parse_form(body, headers.get("Content-Type", "")).items()}
        for name in ("purpose", "file_name"):
            if not form.get(name):
                return self.error(400, f"missing form field {name}")
        checksum = form.get("checksum", "")
        existing = self.checksums.get(f"{form['purpose']}|{checksum}")
        if checksum and existing in self.files:
            return 409, {"message": "File already exists", "file_id": existing}, {}
        file_id = f"file-{uuid.uuid4()}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": 0,
            "created_at": int(datetime.now(timezone.utc).timestamp()),
            "filename": form["file_name"],
            "FileType": form.get("file_type") or "jsonl",
            "purpose": form["purpose"],
            "processing_status": "PENDING",
            "Processed": False,
            "_checksum": f"{form['purpose']}|{checksum}",
        }
        location = f"{self.root}/_upload/{file_id}"
        return 302, {}, {"Location": location, "X-Together-File-Id": file_id}

    def do_put__upload_x(self, file_id: str, *, body: bytes, **_: Any) -> Answer:
        if file_id not in self.files:
            return 404, b"NoSuchUpload", {}
        self.contents[file_id] = body
        self.files[file_id]["bytes"] = len(body)
        return 200, b"", {}

    def do_post_v1_files_x_preprocess(self, file_id: str, **_: Any) -> Answer:
        record = self._file_or_404(file_id)
        if record is None or file_id not in self.contents:
            return self.error(404, f"File {file_id} not found", "not_found")
        problem = _validate_jsonl(self.contents[file_id])
        record["processing_status"] = "INVALID_FORMAT" if problem else "COMPLETED"
        record["Processed"] = True
        record["validation_report"] = {"valid": problem is None, "file_id": file_id}
        if problem:
            record["validation_report"].update(error=problem, error_type="INVALID_FORMAT")
        else:
            self.checksums[record["_checksum"]] = file_id
        return 200, _public(record), {}

    def do_get_v1_files(self, **_: Any) -> Answer:
        return 200, {"data": [_public(f) for f in self.files.values()]}, {}

    def do_get_v1_files_x(self, file_id: str, **_: Any) -> Answer:
        record = self._file_or_404(file_id)
        if record is None:
            return self.error(404, f"File {file_id} not found", "not_found")
        return 200, _public(record), {}

    def do_delete_v1_files_x(self, file_id: str, **_: Any) -> Answer:
        record = self.files.pop(file_id, None)
        if record is None:
            return self.error(404, f"File {file_id} not found", "not_found")
        self.contents.pop(file_id, None)
        self.checksums.pop(record["_checksum"], None)
        return 200, {"id": file_id, "deleted": True}, {}

    # -- fine-tunes ----------------------------------------------------------------------
    def do_get_v1_fine_tunes_models_limits(self, *, query: Any, **_: Any) -> Answer:
        name = (query.get("model_name") or [""])[0]
        return (
            200,
            {
                "model_name": name,
                "max_num_epochs": 20,
                "max_num_evals": 100,
                "max_num_checkpoints": 20,
                "max_learning_rate": 1.0,
                "min_learning_rate": 1e-8,
                "max_seq_length_sft": 32768,
                "max_seq_length_dpo": 16384,
                "min_max_seq_length": 512,
                "default_gradient_accumulation_steps": 1,
                "merge_output_lora": False,
                "supports_full_training": True,
                "supports_reasoning": False,
                "supports_tools": True,
                "supports_vision": False,
                "lora_training": {
                    "default_rank": 64,
                    "max_rank": 64,
                    "max_batch_size": 96,
                    "max_batch_size_dpo": 48,
                    "min_batch_size": 8,
                    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                },
                "full_training": {
                    "max_batch_size": 96,
                    "max_batch_size_dpo": 48,
                    "min_batch_size": 8,
                },
            },
            {},
        )

    def do_post_v1_fine_tunes_estimate_price(self, **_: Any) -> Answer:
        return (
            200,
            {
                "estimation_available": True,
                "estimated_total_price": 1.0,
                "allowed_to_proceed": True,
                "user_limit": 100.0,
                "estimated_train_token_count": 1000,
                "estimated_eval_token_count": 0,
            },
            {},
        )

    def do_post_v1_fine_tunes(self, *, body: bytes, **_: Any) -> Answer:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self.error(400, "request body is not JSON")
        training_file = request.get("training_file")
        if training_file not in self.files:
            return self.error(400, f"Training file {training_file} not found")
        validation = request.get("validation_file") or None
        if validation and validation not in self.files:
            return self.error(400, f"Validation file {validation} not found")
        job_id = f"ft-{uuid.uuid4()}"
        method = request.get("training_method") or {"method": "sft", "train_on_inputs": "auto"}
        job = {
            "id": job_id,
            "status": "pending",
            "user_id": "user-fake",
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "model": request.get("model"),
            "training_file": training_file,
            "validation_file": validation or "",
            "n_epochs": request.get("n_epochs", 1),
            # The server resolves "max" to the model's largest batch (lists show a number).
            "batch_size": 8 if request.get("batch_size", "max") == "max" else request["batch_size"],
            "learning_rate": request.get("learning_rate", 1e-5),
            "n_checkpoints": request.get("n_checkpoints", 1),
            "n_evals": request.get("n_evals", 0),
            "random_seed": request.get("random_seed"),
            "training_method": method,
            "training_type": request.get("training_type"),
            "events": [],
            "token_count": 0,
        }
        if request.get("suffix"):
            job["suffix"] = request["suffix"]
        self.jobs[job_id] = job
        self.steps[job_id] = 0
        self._event(job, "job_pending", "Fine tune request created")
        return 200, _job_view(job), {}

    def do_get_v1_fine_tunes(self, **_: Any) -> Answer:
        return 200, {"data": [_job_view(j) for j in self.jobs.values()]}, {}

    def do_get_v1_fine_tunes_x(self, job_id: str, **_: Any) -> Answer:
        job = self.jobs.get(job_id)
        if job is None:
            return self.error(404, f"Fine-tune job {job_id} not found", "not_found")
        self.tick(job)
        return 200, _job_view(job), {}

    def do_get_v1_fine_tunes_x_events(self, job_id: str, **_: Any) -> Answer:
        job = self.jobs.get(job_id)
        if job is None:
            return self.error(404, f"Fine-tune job {job_id} not found", "not_found")
        return 200, {"data": list(job["events"])}, {}

    def do_get_v1_fine_tunes_x_checkpoints(self, job_id: str, **_: Any) -> Answer:
        job = self.jobs.get(job_id)
        if job is None:
            return self.error(404, f"Fine-tune job {job_id} not found", "not_found")
        data = [
            {
                "checkpoint_type": "Intermediate" if e["step"] < self.total_steps else "Final",
                "created_at": e["created_at"],
                "path": f"s3://fake/{job_id}/checkpoint-{e['step']}",
                "step": e["step"],
            }
            for e in job["events"]
            if e["type"] == "checkpoint_save" and e["step"] > 0
        ]
        return 200, {"data": data}, {}

    def do_post_v1_fine_tunes_x_cancel(self, job_id: str, **_: Any) -> Answer:
        job = self.jobs.get(job_id)
        if job is None:
            return self.error(404, f"Fine-tune job {job_id} not found", "not_found")
        if job["status"] in TERMINAL:
            return self.error(400, f"Job {job_id} is {job['status']} and cannot be cancelled")
        job["status"] = "cancel_requested"
        self._event(job, "cancel_requested", "Cancel requested")
        return 200, _job_view(job), {}

    def do_get_v1_finetune_download(self, *, query: Any, **_: Any) -> Answer:
        job_id = (query.get("ft_id") or [""])[0]
        job = self.jobs.get(job_id)
        if job is None or job["status"] != "completed":
            return self.error(404, f"No model output for fine-tune job {job_id}", "not_found")
        return (
            200,
            self.adapter,
            {"Content-Disposition": f'attachment; filename="{job_id}.tar.zst"'},
        )

    # -- the job lifecycle -----------------------------------------------------------------
    def _event(self, job: dict[str, Any], kind: str, message: str, **extra: Any) -> None:
        level = "error" if kind == "job_error" else "info"
        # Every field FineTuneEvent requires in Together's OpenAPI document.
        event = {
            "object": "fine-tune-event",
            "created_at": now_iso(),
            "type": kind,
            "message": message,
            "level": level,
            "param_count": 0,
            "token_count": int(job.get("token_count") or 0),
            "total_steps": self.total_steps,
            "wandb_url": "",
            "step": 0,
            "checkpoint_path": "",
            "model_path": "",
            "training_offset": 0,
            "hash": "",
        }
        event.update(extra)
        job["events"].append(event)
        job["updated_at"] = now_iso()

    def tick(self, job: dict[str, Any]) -> None:
        """One step of the lifecycle: pending -> queued -> running (steps) -> compressing ->
        uploading -> completed; cancel_requested -> cancelled; a scripted failure -> error."""
        status = job["status"]
        job_id = job["id"]
        if status == "pending":
            job["status"] = "queued"
            self._event(job, "job_start", "Job queued")
        elif status == "queued":
            job["status"] = "running"
            self._event(job, "training_start", "Training started")
        elif status == "running":
            if self.fail_with is not None:
                job["status"] = "error"
                self._event(job, "job_error", self.fail_with)
                return
            self.steps[job_id] += 1
            step = self.steps[job_id]
            job["token_count"] = step * 100
            self._event(
                job,
                "epoch_complete",
                f"Step {step}/{self.total_steps}",
                step=step,
                total_steps=self.total_steps,
            )
            if step * 2 == self.total_steps or step >= self.total_steps:
                self._event(job, "checkpoint_save", f"Checkpoint saved at step {step}", step=step)
            if step >= self.total_steps:
                job["status"] = "compressing"
                self._event(job, "model_compressing", "Compressing the output model")
        elif status == "compressing":
            job["status"] = "uploading"
            self._event(job, "model_uploading", "Uploading the output model")
        elif status == "uploading":
            job["status"] = "completed"
            job["model_output_name"] = (
                f"fake-user/{job['model']}-{job.get('suffix') or 'ft'}-{job_id[3:11]}"
            )
            self._event(job, "job_complete", "Fine-tuning job completed")
        elif status == "cancel_requested":
            job["status"] = "cancelled"
            self._event(job, "job_stopped", "Job cancelled")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    view = dict(job)
    view["events"] = list(job["events"])
    return view


def _validate_jsonl(content: bytes) -> str | None:
    """The server-side check Together runs after an upload (a subset: each line a JSON object
    in one known format)."""
    for number, raw in enumerate(content.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            return f"Line {number}: not valid JSON"
        if not isinstance(line, dict):
            return f"Line {number}: not a JSON object"
        known = ("messages", "text", "prompt", "input")
        if not any(k in line for k in known):
            return f"Line {number}: no messages, text, prompt or input field"
    return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
