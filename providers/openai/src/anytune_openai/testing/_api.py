"""The REST routes of the fake server: files, uploads and fine-tuning jobs, answering with the
JSON shapes (and error bodies) of OpenAI's API. Pure request → response; no sockets here."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from anytune_openai.testing._chat import chat_completion
from anytune_openai.testing._jobs import FakeJob, JobRunner
from anytune_openai.testing._wire import (
    TRAINING_NOT_AVAILABLE,
    Request,
    Response,
    create_refusal,
    error,
    page,
)

__all__ = ["TRAINING_NOT_AVAILABLE", "FakeAPI", "Request", "Response", "error"]


class FakeAPI:
    """State and routes. ``advance`` is "poll" (each GET of a job advances it
    ``ticks_per_poll``) or "time" (one tick per ``tick_seconds``)."""

    MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "ft:")

    def __init__(
        self,
        *,
        total_steps: int = 6,
        advance: str = "poll",
        ticks_per_poll: int = 1,
        tick_seconds: float = 0.2,
    ):
        if advance not in ("poll", "time"):
            raise ValueError("advance must be 'poll' or 'time'")
        if advance == "time" and not tick_seconds > 0:
            raise ValueError("tick_seconds must be > 0")
        self.lock = threading.RLock()
        self.runner = JobRunner(total_steps=total_steps)
        self.advance = advance
        self.ticks_per_poll = ticks_per_poll
        self.tick_seconds = tick_seconds
        self.training_available = True
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, bytes] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.repeating: set[str] = set()
        """List routes (templates) that answer like a broken server: see ``page``."""
        self.routes: list[tuple[str, re.Pattern[str], str, Callable[[Request], Response]]] = []
        for method, template, handler in [
            ("POST", "/v1/files", self.create_file),
            ("GET", "/v1/files", self.list_files),
            ("GET", "/v1/files/{id}", self.get_file),
            ("DELETE", "/v1/files/{id}", self.delete_file),
            ("POST", "/v1/uploads", self.create_upload),
            ("POST", "/v1/uploads/{id}/parts", self.add_part),
            ("POST", "/v1/uploads/{id}/complete", self.complete_upload),
            ("POST", "/v1/uploads/{id}/cancel", self.cancel_upload),
            ("POST", "/v1/fine_tuning/jobs", self.create_job),
            ("GET", "/v1/fine_tuning/jobs", self.list_jobs),
            ("GET", "/v1/fine_tuning/jobs/{id}", self.get_job),
            ("GET", "/v1/fine_tuning/jobs/{id}/events", self.list_events),
            ("GET", "/v1/fine_tuning/jobs/{id}/checkpoints", self.list_checkpoints),
            ("POST", "/v1/fine_tuning/jobs/{id}/cancel", self.cancel_job),
            ("POST", "/v1/fine_tuning/jobs/{id}/pause", self.pause_job),
            ("POST", "/v1/fine_tuning/jobs/{id}/resume", self.resume_job),
            ("POST", "/v1/chat/completions", lambda req: chat_completion(self, req)),
        ]:
            pattern = re.compile("^" + template.replace("{id}", "(?P<id>[^/]+)") + "$")
            self.routes.append((method, pattern, template, handler))

    def match(
        self, method: str, path: str
    ) -> tuple[str, Callable[[Request], Response], dict[str, str]] | None:
        for route_method, pattern, template, handler in self.routes:
            found = pattern.match(path)
            if found and route_method == method:
                return template, handler, found.groupdict()
        return None

    # -- files ---------------------------------------------------------------------------
    def _store_file(self, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
        file_id = self.runner.new_id("file")
        file: dict[str, Any] = {
            "object": "file",
            "id": file_id,
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            # expires_at / status_details are left out: optional in the OpenAPI document,
            # and not nullable there.
        }
        self.files[file_id] = file
        self.contents[file_id] = content
        return file

    def create_file(self, req: Request) -> Response:
        if "file" not in req.form or "purpose" not in req.form:
            return error(400, "'file' and 'purpose' are required", param="file")
        filename, content = req.form["file"]
        purpose = req.form["purpose"][1].decode()
        return 200, self._store_file(filename or "upload", content, purpose)

    def list_files(self, req: Request) -> Response:
        purpose = req.query["purpose"][0] if req.query.get("purpose") else None
        files = [f for f in self.files.values() if purpose in (None, f["purpose"])]
        if (req.query.get("order") or ["desc"])[0] != "asc":
            files.reverse()
        return 200, self._list("GET /v1/files", files, req, 10000, max_limit=10000)

    def _list(
        self, route: str, items: list[dict[str, Any]], req: Request, default: int, **kw: Any
    ) -> dict[str, Any]:
        return page(items, req.query, default, repeat=route in self.repeating, **kw)

    def get_file(self, req: Request) -> Response:
        file = self.files.get(req.params["id"])
        if file is None:
            return error(404, f"No such File object: {req.params['id']}", param="id")
        return 200, file

    def delete_file(self, req: Request) -> Response:
        if self.files.pop(req.params["id"], None) is None:
            return error(404, f"No such File object: {req.params['id']}", param="id")
        self.contents.pop(req.params["id"], None)
        return 200, {"object": "file", "id": req.params["id"], "deleted": True}

    # -- uploads -------------------------------------------------------------------------
    def create_upload(self, req: Request) -> Response:
        body = req.json if isinstance(req.json, dict) else {}
        missing = [k for k in ("bytes", "filename", "mime_type", "purpose") if k not in body]
        if missing:
            return error(400, f"Missing required parameter: '{missing[0]}'.", param=missing[0])
        now = int(time.time())
        upload = {
            "object": "upload",
            "id": self.runner.new_id("upload"),
            "bytes": int(body["bytes"]),
            "created_at": now,
            "expires_at": now + 3600,
            "filename": body["filename"],
            "purpose": body["purpose"],
            "status": "pending",
            "file": None,
            "_parts": [],
        }
        self.uploads[upload["id"]] = upload
        return 200, self._public(upload)

    @staticmethod
    def _public(upload: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in upload.items() if not k.startswith("_")}

    def _pending_upload(self, upload_id: str) -> dict[str, Any] | Response:
        upload = self.uploads.get(upload_id)
        if upload is None:
            return error(404, f"No such Upload object: {upload_id}")
        if upload["status"] != "pending":
            return error(400, f"Upload {upload_id} is already {upload['status']}.")
        return upload

    def add_part(self, req: Request) -> Response:
        upload = self._pending_upload(req.params["id"])
        if isinstance(upload, tuple):
            return upload
        if "data" not in req.form:
            return error(400, "Missing required parameter: 'data'.", param="data")
        part_id = self.runner.new_id("part")
        self.parts[part_id] = req.form["data"][1]
        upload["_parts"].append(part_id)
        return 200, {
            "object": "upload.part",
            "id": part_id,
            "created_at": int(time.time()),
            "upload_id": upload["id"],
        }

    def complete_upload(self, req: Request) -> Response:
        upload = self._pending_upload(req.params["id"])
        if isinstance(upload, tuple):
            return upload
        body = req.json if isinstance(req.json, dict) else {}
        part_ids = list(body.get("part_ids") or [])
        unknown = [p for p in part_ids if p not in upload["_parts"]]
        if unknown:
            return error(
                400, f"Part {unknown[0]} does not belong to this upload.", param="part_ids"
            )
        content = b"".join(self.parts[p] for p in part_ids)
        if len(content) != upload["bytes"]:
            return error(
                400,
                f"The upload was created with {upload['bytes']} bytes but the parts hold "
                f"{len(content)} bytes.",
            )
        md5 = body.get("md5")
        if md5 and hashlib.md5(content, usedforsecurity=False).hexdigest() != md5:
            return error(400, "The md5 checksum does not match the uploaded bytes.", param="md5")
        upload["file"] = self._store_file(upload["filename"], content, upload["purpose"])
        upload["status"] = "completed"
        return 200, self._public(upload)

    def cancel_upload(self, req: Request) -> Response:
        upload = self._pending_upload(req.params["id"])
        if isinstance(upload, tuple):
            return upload
        upload["status"] = "cancelled"
        return 200, self._public(upload)

    # -- jobs ----------------------------------------------------------------------------
    def create_job(self, req: Request) -> Response:
        body = req.json if isinstance(req.json, dict) else {}
        if not self.training_available:
            return error(403, TRAINING_NOT_AVAILABLE, code="training_not_available")
        model = str(body.get("model") or "")
        if not model.startswith(self.MODELS):
            return error(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                code="model_not_available",
                param="model",
            )
        for name in ("training_file", "validation_file"):
            file_id = body.get(name)
            if (name == "training_file" or file_id) and file_id not in self.files:
                return error(400, f"invalid {name}: {file_id}", param=name)
        refused = create_refusal(body)
        if refused is not None:
            return refused
        metadata = body.get("metadata") or {}
        suffix = body.get("suffix")
        method = body.get("method") or {"type": "supervised"}
        kind = method.get("type", "supervised")
        if kind not in ("supervised", "dpo"):
            return error(400, f"Unsupported method type: {kind}", param="method")
        hp = dict((method.get(kind) or {}).get("hyperparameters") or {})
        job_id = self.runner.new_id("ftjob")
        data: dict[str, Any] = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": model,
            "created_at": int(time.time()),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-fake",
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": dict(hp) if kind == "supervised" else {},
            "method": {"type": kind, kind: {"hyperparameters": hp}},
            "trained_tokens": None,
            "error": None,
            "user_provided_suffix": suffix,
            "seed": body.get("seed") if body.get("seed") is not None else 42,
            "estimated_finish": None,
            "integrations": body.get("integrations") or [],
            "metadata": metadata or None,
        }
        job = FakeJob(
            data=data,
            training_content=self.contents[body["training_file"]],
            total_steps=self.runner.total_steps,
        )
        self.jobs[job_id] = job
        self.runner.start(job)
        return 200, data

    def _job(self, job_id: str) -> FakeJob | Response:
        job = self.jobs.get(job_id)
        if job is None:
            return error(404, f"Could not find fine-tune: {job_id}", code="fine_tune_not_found")
        if self.advance == "time":
            self.runner.catch_up(job, self.tick_seconds)
        return job

    def list_jobs(self, req: Request) -> Response:
        wanted = {
            key[len("metadata[") : -1]: values[0]
            for key, values in req.query.items()
            if key.startswith("metadata[") and key.endswith("]")
        }
        jobs = [
            j.data
            for j in reversed(self.jobs.values())
            if all((j.data.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        ]
        return 200, self._list("GET /v1/fine_tuning/jobs", jobs, req, 20)

    def get_job(self, req: Request) -> Response:
        job = self._job(req.params["id"])
        if isinstance(job, tuple):
            return job
        if self.advance == "poll":
            for _ in range(self.ticks_per_poll):
                self.runner.tick(job)
        return 200, job.data

    def list_events(self, req: Request) -> Response:
        job = self._job(req.params["id"])
        if isinstance(job, tuple):
            return job
        route = "GET /v1/fine_tuning/jobs/{id}/events"
        return 200, self._list(route, job.events[::-1], req, 20)

    def list_checkpoints(self, req: Request) -> Response:
        job = self._job(req.params["id"])
        if isinstance(job, tuple):
            return job
        route = "GET /v1/fine_tuning/jobs/{id}/checkpoints"
        return 200, self._list(route, job.checkpoints[::-1], req, 10)

    def cancel_job(self, req: Request) -> Response:
        job = self._job(req.params["id"])
        if isinstance(job, tuple):
            return job
        if job.terminal:
            return error(
                409, f"Job {job.data['id']} has already {job.status}; it cannot be cancelled."
            )
        self.runner.cancel(job)
        return 200, job.data

    def pause_job(self, req: Request) -> Response:
        job = self._job(req.params["id"])
        if isinstance(job, tuple):
            return job
        if job.terminal or job.status == "paused":
            return error(409, f"Job {job.data['id']} is {job.status}; it cannot be paused.")
        job.paused_from = job.status
        job.data["status"] = "paused"
        self.runner.event(job, "Fine-tuning job paused")
        return 200, job.data

    def resume_job(self, req: Request) -> Response:
        job = self._job(req.params["id"])
        if isinstance(job, tuple):
            return job
        if job.status != "paused":
            return error(409, f"Job {job.data['id']} is {job.status}; only paused jobs resume.")
        job.data["status"] = job.paused_from or "running"
        job.paused_from = None
        job.last_tick = time.monotonic()
        self.runner.event(job, "Fine-tuning job resumed")
        return 200, job.data
